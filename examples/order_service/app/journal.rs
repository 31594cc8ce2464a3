//! The order journal: one JSON object per line, appended and fsynced before an order is
//! acknowledged, read back in full when `orders` or `inventory` (re)starts.
//!
//! Every function here blocks on the file system: call them from the worker pool
//! (`ctx.execute_blocking`), never on a reactor.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::orders::Order;

/// Where the journal lives; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// A journal at `path`: creates its directory and the file if missing, and checks
    /// that it can be opened for appending.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self { path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `orders`, one line each, and fsyncs before returning.
    pub fn append(&self, orders: &[Order]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for order in orders {
            serde_json::to_writer(&mut lines, order)?;
            lines.push(b'\n');
        }
        let mut file = OpenOptions::new().append(true).open(&self.path)?;
        file.write_all(&lines)?;
        file.sync_data()
    }

    /// Every order in the journal, in the order written. A torn last line (a crash in
    /// the middle of a write) is skipped; any other bad line is an error.
    pub fn load(&self) -> std::io::Result<Vec<Order>> {
        let file = File::open(&self.path)?;
        let mut orders = Vec::new();
        let mut lines = BufReader::new(file).lines().peekable();
        while let Some(line) = lines.next() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Order>(&line) {
                Ok(order) => orders.push(order),
                Err(_) if lines.peek().is_none() => {
                    eprintln!("journal: skipping a torn last line");
                }
                Err(error) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
                }
            }
        }
        Ok(orders)
    }
}
