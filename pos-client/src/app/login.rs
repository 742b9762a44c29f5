//! The log-in screen: server, shop, terminal, login, password.

use azyq_shared::api::{ErrorCode, SessionRequest, SessionResponse};

use super::{edit_text, App, Command, KeyRing, Message, Screen, Session};
use crate::app::Key;
use crate::client::ClientError;
use crate::i18n::{self, Phrase, T};

/// Indexes of the fields the app moves the focus to.
pub const SERVER: usize = 0;
pub const PASSWORD: usize = 4;

/// The five fields of the log-in form.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginForm {
    pub fields: [String; 5],
    pub focus: usize,
}

/// The password never shows in a debug print.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm").field("fields", &&self.fields[..PASSWORD]).field("focus", &self.focus).finish()
    }
}

impl LoginForm {
    pub const LABELS: [T; 5] = [T::FieldServer, T::FieldShop, T::FieldTerminal, T::FieldLogin, T::FieldPassword];

    /// A form pre-filled from the command line; the focus on the first empty field.
    pub fn new(server: &str, shop: &str, terminal: &str, login: &str) -> LoginForm {
        let fields = [server.to_owned(), shop.to_owned(), terminal.to_owned(), login.to_owned(), String::new()];
        let focus = fields.iter().position(String::is_empty).unwrap_or(PASSWORD);
        LoginForm { fields, focus }
    }

    pub fn password_mut(&mut self) -> &mut String {
        &mut self.fields[PASSWORD]
    }

    fn current(&mut self) -> &mut String {
        let focus = self.focus.min(PASSWORD);
        &mut self.fields[focus]
    }
}

impl App {
    pub(super) fn login_key(&mut self, key: Key) -> Vec<Command> {
        let form = &mut self.login;
        match key {
            Key::Tab | Key::Down => form.focus = (form.focus + 1) % form.fields.len(),
            Key::BackTab | Key::Up => form.focus = (form.focus + form.fields.len() - 1) % form.fields.len(),
            Key::Enter => return self.submit_login(),
            Key::Esc => form.current().clear(),
            other => {
                edit_text(form.current(), other, 200);
            }
        }
        Vec::new()
    }

    fn submit_login(&mut self) -> Vec<Command> {
        if self.login.focus < PASSWORD && !self.login.fields[self.login.focus].trim().is_empty() {
            self.login.focus += 1;
            return Vec::new();
        }
        if let Some(empty) = self.login.fields.iter().position(|f| f.trim().is_empty()) {
            self.login.focus = empty;
            let label = LoginForm::LABELS[empty];
            let what = Phrase::new(|lang| i18n::field_empty(lang, label.get(lang)));
            self.message = Some(Message::error(what, T::FillAllAndEnter));
            return Vec::new();
        }
        if !self.can_act() {
            return Vec::new();
        }
        let [server, shop, terminal, login, password] = &self.login.fields;
        let request = SessionRequest {
            login: login.trim().to_owned(),
            password: password.clone(),
            shop_id: Some(shop.trim().to_owned()),
            terminal_id: Some(terminal.trim().to_owned()),
        };
        self.busy = Some(T::BusyLogIn);
        vec![Command::Login { server: server.trim().to_owned(), request }]
    }

    pub(super) fn login_reply(&mut self, result: Result<SessionResponse, ClientError>) -> Vec<Command> {
        self.busy = None;
        self.login.password_mut().clear();
        match result {
            Ok(session) => {
                let [_, shop, terminal, login, _] = &self.login.fields;
                self.session = Some(Session {
                    shop: shop.trim().to_owned(),
                    terminal: terminal.trim().to_owned(),
                    login: login.trim().to_owned(),
                    expires_at: session.expires_at,
                });
                self.screen = self.resume.take().unwrap_or(Screen::Sale);
                self.message = None;
                self.offline = false;
                vec![Command::FetchKeys, Command::FetchCatalog, Command::FetchRecalls]
            }
            Err(e) => {
                self.offline = crate::offline::unreachable(&e);
                self.login.focus = if e.code() == Some(ErrorCode::InvalidCredentials) { PASSWORD } else { SERVER };
                let mut m = Message::for_client_error(&e, None);
                if e.code().is_none() {
                    m.todo = T::CheckServerAndEnter.into();
                }
                self.message = Some(m);
                Vec::new()
            }
        }
    }

    pub(super) fn keys_reply(&mut self, result: Result<azyq_shared::api::VoucherKeys, ClientError>) -> Vec<Command> {
        let waiting = std::mem::take(&mut self.sale.awaiting_keys);
        match result {
            Ok(doc) => {
                self.keys = KeyRing::from_document(&doc);
                // Tokens of a kid that was unknown get their one re-check now; no further fetch.
                waiting.into_iter().flat_map(|token| self.check_and_look_up(token, false)).collect()
            }
            Err(e) => {
                self.request_failed(&e, T::KeysNotLoaded, T::PressF5);
                Vec::new()
            }
        }
    }
}
