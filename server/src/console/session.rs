//! Who is at the console, in one place: the session cookie (the API's own session token, checked
//! by [`auth::session`], so a password reset, a role change or `keys rotate-session` ends it as it
//! ends an API session), the CSRF token every form carries, and the language cookie.
//!
//! Cookies are HttpOnly and SameSite=Strict, scoped to `/console`, and Secure when the server
//! speaks TLS. The CSRF token of a form is an HMAC, under a key derived from the session secret,
//! of a random nonce kept in its own cookie: a page from another site can neither read the nonce
//! nor compute the token, and the log-in form is covered as well as the others.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use azyq_shared::api::Role;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::i18n::{Lang, Texts};
use crate::domain::accounts::SessionClaims;
use crate::error::AppError;
use crate::http::auth::{self, Operator, Staff};
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "azyq_session";
pub const CSRF_COOKIE: &str = "azyq_csrf";
pub const LANG_COOKIE: &str = "azyq_lang";
pub const PATH: &str = "/console";

/// The request's view of the console: language, CSRF nonce, and the staff session if any.
pub struct Ctx {
    pub lang: Lang,
    pub t: &'static Texts,
    /// The verified session, or why there is none (`None`: no cookie at all).
    session: Option<Result<Staff, AppError>>,
    /// The CSRF nonce from the cookie, or a new one to set with the answer.
    nonce: String,
    new_nonce: bool,
    secret: Vec<u8>,
    /// Served over TLS: cookies get `Secure`.
    secure: bool,
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn csrf_mac(secret: &[u8], nonce: &str) -> Result<Hmac<Sha256>, AppError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(AppError::internal)?;
    mac.update(b"azyq-console-csrf\0");
    mac.update(nonce.as_bytes());
    Ok(mac)
}

impl Ctx {
    async fn from_request(req: HttpRequest) -> Result<Ctx, AppError> {
        let st = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))?;
        let lang = req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())).unwrap_or(Lang::Ru);
        let session = match req.cookie(SESSION_COOKIE) {
            Some(c) if !c.value().is_empty() => Some(auth::session(st, c.value()).await),
            _ => None,
        };
        let existing = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let new_nonce = existing.is_none();
        Ok(Ctx {
            lang,
            t: lang.texts(),
            session,
            nonce: existing.unwrap_or_else(random_hex),
            new_nonce,
            secret: st.sessions.secret(),
            secure: req.app_config().secure(),
        })
    }

    /// The logged-in operator or viewer; 401 (the log-in page) otherwise.
    pub fn staff(&self) -> Result<&SessionClaims, AppError> {
        match &self.session {
            Some(Ok(s)) if matches!(s.0.role, Role::Operator | Role::Viewer) => Ok(&s.0),
            Some(Ok(_)) => Err(AppError::forbidden()),
            Some(Err(e)) => Err(e.again()),
            None => Err(AppError::unauthorized("Требуется вход")),
        }
    }

    /// The logged-in operator; a viewer is refused 403, whatever the page showed it.
    pub fn operator(&self) -> Result<Operator, AppError> {
        let claims = self.staff()?;
        if claims.role != Role::Operator {
            return Err(AppError::forbidden());
        }
        Ok(Operator(Staff(claims.clone())))
    }

    /// Whether a session cookie was sent but no longer stands (expired or revoked).
    pub fn session_ended(&self) -> bool {
        matches!(self.session, Some(Err(_)))
    }

    /// The token this page's forms carry.
    pub fn csrf(&self) -> String {
        csrf_mac(&self.secret, &self.nonce).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default()
    }

    /// Refuses a form whose token is not this browser's (400 `validation`, field `csrf`).
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), AppError> {
        let refused = || AppError::validation("csrf", self.t.form_expired);
        if self.new_nonce {
            return Err(refused());
        }
        let given = token.and_then(|t| hex::decode(t).ok()).ok_or_else(refused)?;
        csrf_mac(&self.secret, &self.nonce)?.verify_slice(&given).map_err(|_| refused())
    }

    fn cookie<'c>(&self, name: &'c str, value: String, age: Option<CookieAge>) -> Cookie<'c> {
        let mut b =
            Cookie::build(name, value).path(PATH).http_only(true).same_site(SameSite::Strict).secure(self.secure);
        if let Some(age) = age {
            b = b.max_age(age);
        }
        b.finish()
    }

    /// Sets the cookies this request decided on (a new CSRF nonce) on an answer.
    pub fn finish(&self, mut res: HttpResponse) -> HttpResponse {
        if self.new_nonce {
            let _ = res.add_cookie(&self.cookie(CSRF_COOKIE, self.nonce.clone(), None));
        }
        if self.session_ended() {
            let _ = res.add_cookie(&self.cookie(SESSION_COOKIE, String::new(), Some(CookieAge::ZERO)));
        }
        res
    }

    /// The session cookie for a fresh log-in, lasting as long as its token; and a fresh CSRF nonce,
    /// so a token seen before the log-in is worth nothing after it.
    pub fn logged_in(&self, res: &mut HttpResponse, token: String, seconds: i64) {
        let _ = res.add_cookie(&self.cookie(SESSION_COOKIE, token, Some(CookieAge::seconds(seconds.max(0)))));
        let _ = res.add_cookie(&self.cookie(CSRF_COOKIE, random_hex(), None));
    }

    /// Clears the session cookie.
    pub fn logged_out(&self, res: &mut HttpResponse) {
        let _ = res.add_cookie(&self.cookie(SESSION_COOKIE, String::new(), Some(CookieAge::ZERO)));
    }

    /// The language cookie (a year).
    pub fn language_cookie(&self, lang: Lang) -> Cookie<'static> {
        self.cookie(LANG_COOKIE, lang.code().to_owned(), Some(CookieAge::days(365)))
    }
}

impl FromRequest for Ctx {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Ctx, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Ctx::from_request(req.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(nonce: &str, new_nonce: bool) -> Ctx {
        Ctx {
            lang: Lang::Ru,
            t: Lang::Ru.texts(),
            session: None,
            nonce: nonce.into(),
            new_nonce,
            secret: b"secret".to_vec(),
            secure: false,
        }
    }

    #[test]
    fn a_form_token_is_good_only_with_its_own_nonce() {
        let a = ctx("00112233445566778899aabbccddeeff", false);
        let token = a.csrf();
        assert!(a.check_csrf(Some(&token)).is_ok());
        assert!(a.check_csrf(None).is_err());
        assert!(a.check_csrf(Some("zz")).is_err());
        let b = ctx("ffeeddccbbaa99887766554433221100", false);
        assert!(b.check_csrf(Some(&token)).is_err());
        // A browser without the nonce cookie (first visit, or cookies off) never passes.
        let fresh = ctx("00112233445566778899aabbccddeeff", true);
        assert!(fresh.check_csrf(Some(&token)).is_err());
    }
}
