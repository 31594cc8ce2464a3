//! Settings from command-line flags, then environment variables, then defaults.
//!
//! | flag | environment | default |
//! |---|---|---|
//! | `--addr HOST:PORT` | `ORDER_ADDR` | `127.0.0.1:8080` |
//! | `--journal PATH` | `ORDER_JOURNAL` | `<temp dir>/reactree-order-service/orders.jsonl` |
//! | `--reactors N` | `ORDER_REACTORS` | 2 (plus 1 of the `sales` supervisor's own) |
//! | `--workers N` | `ORDER_WORKERS` | 4 (the journal's fsyncs run there) |
//! | `--mailbox N` | `ORDER_MAILBOX` | 1024 (every component's mailbox) |
//! | `--orders-mailbox N` | `ORDER_ORDERS_MAILBOX` | 1024 (the `orders` component's) |
//! | `--chaos a,b` | `ORDER_CHAOS` | none: components armed to panic on their next message |

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the service can be told.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP adapter listens (port 0: any free port).
    pub addr: SocketAddr,
    /// The order journal.
    pub journal: PathBuf,
    /// Reactors of the root (the `sales` supervisor has one more of its own).
    pub reactors: usize,
    /// Threads of the default worker pool.
    pub workers: usize,
    /// Every component's mailbox capacity.
    pub mailbox: usize,
    /// The `orders` component's mailbox capacity.
    pub orders_mailbox: usize,
    /// Components armed to panic on their next message.
    pub chaos: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            journal: std::env::temp_dir()
                .join("reactree-order-service")
                .join("orders.jsonl"),
            reactors: 2,
            workers: 4,
            mailbox: 1024,
            orders_mailbox: 1024,
            chaos: String::new(),
        }
    }
}

/// A setting that could not be read.
#[derive(Debug)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Reads `args` (without the program name) and the environment over the defaults.
    pub fn from_args_and_env(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let mut settings = Self::default();
        let keys = [
            ("--addr", "ORDER_ADDR"),
            ("--journal", "ORDER_JOURNAL"),
            ("--reactors", "ORDER_REACTORS"),
            ("--workers", "ORDER_WORKERS"),
            ("--mailbox", "ORDER_MAILBOX"),
            ("--orders-mailbox", "ORDER_ORDERS_MAILBOX"),
            ("--chaos", "ORDER_CHAOS"),
        ];
        for (flag, var) in keys {
            if let Some(value) = env(var) {
                settings.set(flag, &value)?;
            }
        }
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(SettingsError(usage()));
            }
            if !keys.iter().any(|(f, _)| *f == flag) {
                return Err(SettingsError(format!("unknown flag {flag}\n{}", usage())));
            }
            let value = args
                .next()
                .ok_or_else(|| SettingsError(format!("{flag} needs a value")))?;
            settings.set(&flag, &value)?;
        }
        Ok(settings)
    }

    fn set(&mut self, flag: &str, value: &str) -> Result<(), SettingsError> {
        let number = |value: &str| -> Result<usize, SettingsError> {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| SettingsError(format!("{flag}: {value:?} is not a positive number")))
        };
        match flag {
            "--addr" => {
                self.addr = value
                    .parse()
                    .map_err(|_| SettingsError(format!("--addr: {value:?} is not HOST:PORT")))?;
            }
            "--journal" => self.journal = PathBuf::from(value),
            "--reactors" => self.reactors = number(value)?,
            "--workers" => self.workers = number(value)?,
            "--mailbox" => self.mailbox = number(value)?,
            "--orders-mailbox" => self.orders_mailbox = number(value)?,
            _ => self.chaos = value.to_owned(),
        }
        Ok(())
    }
}

fn usage() -> String {
    "usage: order_service [--addr HOST:PORT] [--journal PATH] [--reactors N] [--workers N] \
     [--mailbox N] [--orders-mailbox N] [--chaos a,b]"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_environment_which_wins_over_defaults() {
        let env = |var: &str| (var == "ORDER_WORKERS").then(|| "7".to_owned());
        let args = ["--reactors", "3"].map(String::from);
        let settings = Settings::from_args_and_env(args, env).unwrap();
        assert_eq!(
            (settings.reactors, settings.workers, settings.mailbox),
            (3, 7, 1024)
        );
    }
}
