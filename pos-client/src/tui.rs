//! The terminal loop: draws the app, turns key presses into events, runs the app's commands on a
//! worker thread with the HTTP client and feeds the answers back. The screen keeps answering
//! while a request waits for the server.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;

use crate::app::{App, Command, Event, Key, LoginForm, Reply};
use crate::client::{Client, Timeouts};
use crate::ui;

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
}

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
        let (commands, replies) = spawn_worker(Client::new(&options.server, options.timeouts), options.timeouts)?;
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

/// Runs commands one after another on a thread of their own, in the order given.
pub fn spawn_worker(client: Client, timeouts: Timeouts) -> io::Result<(Sender<Command>, Receiver<Reply>)> {
    let (command_tx, command_rx) = mpsc::channel::<Command>();
    let (reply_tx, reply_rx) = mpsc::channel::<Reply>();
    thread::Builder::new().name("azyq-pos-client".into()).spawn(move || {
        let mut client = client;
        for command in command_rx {
            if reply_tx.send(execute_command(&mut client, command, timeouts)).is_err() {
                break;
            }
        }
    })?;
    Ok((command_tx, reply_rx))
}

/// One command with the client. A log-in to another server address gets a new client.
pub fn execute_command(client: &mut Client, command: Command, timeouts: Timeouts) -> Reply {
    match command {
        Command::Login { server, request } => {
            let mut fresh = Client::new(&server, timeouts);
            let result = fresh.login(&request);
            if result.is_ok() {
                *client = fresh;
            }
            Reply::Login(result)
        }
        Command::FetchKeys => Reply::Keys(client.keys()),
        Command::FetchCatalog => Reply::Catalog(client.catalog()),
        Command::FetchRecalls => Reply::Recalls(client.recalls()),
        Command::Lookup { token } => {
            let result = client.lookup(&token);
            Reply::Lookup { token, result }
        }
        Command::Authorize { key, request } => Reply::Authorize(client.authorize(&key, &request)),
        Command::Capture { basket_id, key, request } => Reply::Capture(client.capture(basket_id, &key, &request)),
        Command::Cancel { basket_id } => Reply::Cancel(client.cancel(basket_id)),
        Command::Refund { basket_id, key, request } => Reply::Refund(client.refund(basket_id, &key, &request)),
        Command::Report { date } => Reply::Report(client.daily_report(Some(&date))),
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
