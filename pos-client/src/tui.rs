//! The terminal loop: draws the app, turns key presses into events, runs the app's commands on a
//! worker thread with the HTTP client and feeds the answers back. The screen keeps answering
//! while a request waits for the server.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;

use crate::app::{App, Command, Event, Key, LoginForm, Reply};
use crate::client::{Client, ClientError, Timeouts};
use crate::desk::{Desk, OFFLINE_BASKET};
use crate::journal::{Journal, KeptSession, LoggedIn};
use crate::offline;
use crate::ui;
use azyq_shared::api::SessionRequest;

/// What the till starts with: the server and the pre-filled log-in fields.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: String,
    pub shop: String,
    pub terminal: String,
    pub login: String,
    pub timeouts: Timeouts,
    pub clock: std::sync::Arc<dyn azyq_shared::clock::Clock>,
    /// The language the till starts in.
    pub lang: crate::i18n::Lang,
    /// The journal: the session kept at log-in, the pack, the offline sales the background sync
    /// uploads.
    pub journal: Option<PathBuf>,
}

/// How often the background sync tries the server (and uploads what waits).
const SYNC_EVERY: Duration = Duration::from_secs(15);

/// Runs the till until the cashier quits.
pub fn run(options: Options) -> anyhow::Result<()> {
    install_panic_hook();
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if let Err(e) = execute!(stdout, EnterAlternateScreen) {
        restore();
        return Err(e.into());
    }
    let result = Terminal::new(CrosstermBackend::new(stdout)).map_err(anyhow::Error::from).and_then(|mut terminal| {
        let form = LoginForm::new(&options.server, &options.shop, &options.terminal, &options.login);
        let mut app = App::new(form, options.clock.now());
        app.lang = options.lang;
        let worker =
            Worker { timeouts: options.timeouts, journal: options.journal.clone(), clock: options.clock.clone() };
        let (commands, replies) = spawn_worker(Client::new(&options.server, options.timeouts), worker)?;
        event_loop(&mut terminal, &mut app, &commands, &replies, options.clock.as_ref()).map_err(anyhow::Error::from)
    });
    restore();
    result
}

/// Leaves raw mode and the alternate screen: the shell must be usable after any exit.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
}

/// A panic restores the terminal before the message is printed (as gitui does).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// The loop, generic over the backend: draw, read keys, take answers, tick the clock.
pub fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    commands: &Sender<Command>,
    replies: &Receiver<Reply>,
    clock: &dyn azyq_shared::clock::Clock,
) -> io::Result<()> {
    loop {
        terminal.draw(|f| ui::draw(f, app))?;
        if app.quit {
            return Ok(());
        }
        // A scanner types a whole code at once: take every key waiting before drawing again.
        let mut wait = Duration::from_millis(200);
        while event::poll(wait)? {
            wait = Duration::ZERO;
            if let TermEvent::Key(k) = event::read()? {
                if let Some(key) = map_key(k) {
                    send(commands, app.handle(Event::Key(key)));
                }
            }
        }
        while let Ok(reply) = replies.try_recv() {
            send(commands, app.handle(Event::Reply(reply)));
        }
        app.handle(Event::Tick(clock.now()));
    }
}

fn send(commands: &Sender<Command>, list: Vec<Command>) {
    for command in list {
        // The worker lives as long as the loop; a send fails only after it died, and then the
        // app's busy state shows that no answer comes.
        let _ = commands.send(command);
    }
}

/// Crossterm's key to the app's. A scanner's GS (0x1D) arrives as Ctrl+] or Ctrl+5.
pub fn map_key(k: KeyEvent) -> Option<Key> {
    if k.kind != KeyEventKind::Press {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    Some(match k.code {
        KeyCode::Char(']' | '5') if ctrl => Key::Char('\u{1d}'),
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    })
}

/// What the worker threads need besides the client.
#[derive(Debug, Clone)]
pub struct Worker {
    pub timeouts: Timeouts,
    pub journal: Option<PathBuf>,
    pub clock: std::sync::Arc<dyn azyq_shared::clock::Clock>,
}

/// Runs commands one after another on a thread of their own, in the order given; with a journal,
/// a second thread syncs the offline sales in the background (never in the counter's way).
pub fn spawn_worker(client: Client, worker: Worker) -> io::Result<(Sender<Command>, Receiver<Reply>)> {
    let (command_tx, command_rx) = mpsc::channel::<Command>();
    let (reply_tx, reply_rx) = mpsc::channel::<Reply>();
    if let Some(path) = worker.journal.clone() {
        let (tx, timeouts, clock) = (reply_tx.clone(), worker.timeouts, worker.clock.clone());
        thread::Builder::new().name("azyq-pos-sync".into()).spawn(move || loop {
            if let Some(reply) = background_sync(&path, timeouts, clock.now()) {
                if tx.send(reply).is_err() {
                    break;
                }
            }
            thread::sleep(SYNC_EVERY);
        })?;
    }
    thread::Builder::new().name("azyq-pos-client".into()).spawn(move || {
        let mut counter = Counter::new(client, worker);
        for command in command_rx {
            for reply in counter.execute(command) {
                if reply_tx.send(reply).is_err() {
                    return;
                }
            }
        }
    })?;
    Ok((command_tx, reply_rx))
}

/// One round of the background sync with the session kept in the journal: upload what waits and
/// refresh the pack. `None` when there is no session to sync with.
fn background_sync(path: &std::path::Path, timeouts: Timeouts, now: chrono::DateTime<chrono::Utc>) -> Option<Reply> {
    let mut journal = Journal::open(path).ok()?;
    let session = journal.session().ok()??;
    let client = Client::with_session(&session.server, timeouts, &session.token);
    let reachable = match offline::sync(&client, &mut journal, now, azyq_shared::offline::MAX_SALES_PER_UPLOAD) {
        Err(offline::SyncError::Client(e)) => !offline::unreachable(&e),
        _ => true,
    };
    Some(Reply::Link { reachable, waiting: journal.pending_count().unwrap_or(0) })
}

/// After an online log-in: the session kept for offline use, and the pack refreshed when due.
fn keep_session(
    worker: &Worker,
    client: &Client,
    server: &str,
    request: &SessionRequest,
    expires_at: chrono::DateTime<chrono::Utc>,
) {
    let (Some(path), Some(token)) = (&worker.journal, client.session_token()) else { return };
    let Ok(mut journal) = Journal::open(path) else { return };
    let Ok(kept) = KeptSession::new(LoggedIn {
        server,
        shop: request.shop_id.as_deref().unwrap_or_default(),
        terminal: request.terminal_id.as_deref().unwrap_or_default(),
        login: &request.login,
        password: &request.password,
        token,
        expires_at,
    }) else {
        return;
    };
    let now = worker.clock.now();
    // A failure here leaves the till selling online; offline it will say what is missing.
    if journal.save_session(&kept).is_ok() && offline::pack_due(&mut journal, now) {
        let _ = offline::refresh_pack(client, &mut journal, now);
    }
}

/// The worker's side of the counter: the client, and the offline desk that answers while the
/// server cannot be reached.
pub struct Counter {
    client: Client,
    desk: Desk,
    worker: Worker,
    /// The shop and terminal of the last log-in (offline receipts name them).
    at: (String, String),
}

impl Counter {
    pub fn new(client: Client, worker: Worker) -> Counter {
        let desk = Desk::new(worker.journal.clone(), worker.clock.clone());
        Counter { client, desk, worker, at: (String::new(), String::new()) }
    }

    /// A read: from the server, or (when it cannot be reached, or was not a moment ago) offline.
    fn read<T>(
        &mut self,
        online: impl FnOnce(&Client) -> Result<T, ClientError>,
        offline: impl FnOnce(&mut Desk) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if self.desk.try_server() {
            match online(&self.client) {
                Err(e) if offline::unreachable(&e) => self.desk.saw_server(false),
                other => {
                    self.desk.saw_server(true);
                    return other;
                }
            }
        }
        offline(&mut self.desk)
    }

    /// One command; the reply, then the link's state when it changed to offline.
    pub fn execute(&mut self, command: Command) -> Vec<Reply> {
        let was_offline = self.desk.is_offline();
        let reply = self.answer(command);
        let mut replies = vec![reply];
        if self.desk.is_offline() || was_offline {
            replies.push(Reply::Link { reachable: !self.desk.is_offline(), waiting: self.desk.waiting() });
        }
        replies
    }

    fn answer(&mut self, command: Command) -> Reply {
        match command {
            // A log-in to another server address gets a new client.
            Command::Login { server, request } => {
                let mut fresh = Client::new(&server, self.worker.timeouts);
                let result = match fresh.login(&request) {
                    Ok(session) => {
                        self.desk.saw_server(true);
                        keep_session(&self.worker, &fresh, &server, &request, session.expires_at);
                        self.client = fresh;
                        Ok(session)
                    }
                    Err(e) if offline::unreachable(&e) && self.worker.journal.is_some() => {
                        self.desk.saw_server(false);
                        self.client = Client::new(&server, self.worker.timeouts);
                        self.desk.login(&request)
                    }
                    Err(e) => Err(e),
                };
                if result.is_ok() {
                    let (shop, terminal) =
                        (request.shop_id.unwrap_or_default(), request.terminal_id.unwrap_or_default());
                    self.at = (shop, terminal);
                }
                Reply::Login(result)
            }
            Command::FetchKeys => Reply::Keys(self.read(Client::keys, |d| d.keys())),
            Command::FetchCatalog => Reply::Catalog(self.read(Client::catalog, |d| d.catalog())),
            Command::FetchRecalls => Reply::Recalls(self.read(Client::recalls, |d| d.recalls())),
            Command::Lookup { token } => {
                let result = self.read(|c| c.lookup(&token), |d| d.lookup(&token));
                Reply::Lookup { token, result }
            }
            Command::Authorize { key, request } => {
                // Offline only when no connection was made: a request that may have reached the
                // server is resolved with it (same key), never sold a second time offline.
                let online = if self.desk.try_server() { Some(self.client.authorize(&key, &request)) } else { None };
                Reply::Authorize(match online {
                    Some(Err(e)) if offline::nothing_sent(&e) => {
                        self.desk.saw_server(false);
                        self.desk.authorize(&request)
                    }
                    Some(result) => {
                        self.desk.saw_server(true);
                        result
                    }
                    None => self.desk.authorize(&request),
                })
            }
            Command::Capture { basket_id: OFFLINE_BASKET, request, .. } => {
                let (shop, terminal) = self.at.clone();
                Reply::Capture(self.desk.capture(&terminal, &shop, &request))
            }
            Command::Capture { basket_id, key, request } => {
                Reply::Capture(self.client.capture(basket_id, &key, &request))
            }
            Command::Cancel { basket_id: OFFLINE_BASKET } => Reply::Cancel(Ok(self.desk.cancel())),
            Command::Cancel { basket_id } => Reply::Cancel(self.client.cancel(basket_id)),
            Command::Refund { basket_id, key, request } => Reply::Refund(self.client.refund(basket_id, &key, &request)),
            Command::Report { date } => Reply::Report(self.client.daily_report(Some(&date))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_and_a_scanner_gs_becomes_the_control_char() {
        let press = |code, modifiers| map_key(KeyEvent::new(code, modifiers));
        assert_eq!(press(KeyCode::Char(']'), KeyModifiers::CONTROL), Some(Key::Char('\u{1d}')));
        assert_eq!(press(KeyCode::Char('5'), KeyModifiers::CONTROL), Some(Key::Char('\u{1d}')));
        assert_eq!(press(KeyCode::Char('Q'), KeyModifiers::CONTROL | KeyModifiers::SHIFT), Some(Key::Ctrl('q')));
        assert_eq!(press(KeyCode::Char('%'), KeyModifiers::SHIFT), Some(Key::Char('%')));
        assert_eq!(press(KeyCode::F(2), KeyModifiers::NONE), Some(Key::F(2)));
        let mut release = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(map_key(release), None);
    }
}
