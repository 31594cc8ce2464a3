//! The order journal: one JSON object per line, appended and fsynced before an order is
//! acknowledged, read back as a stream when `orders` or `inventory` (re)starts, and
//! searched by id for orders older than what `orders` keeps in memory.
//!
//! Every function here blocks on the file system: call them from the worker pool
//! (`ctx.execute_blocking`), never on a reactor.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
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

    /// Calls `f` with every order in the journal, in the order written, reading it as a
    /// stream (a long journal is never all in memory). A torn last line (a crash in the
    /// middle of a write) is skipped; any other bad line is an error.
    pub fn for_each(&self, mut f: impl FnMut(Order)) -> std::io::Result<()> {
        let file = File::open(&self.path)?;
        let mut lines = BufReader::new(file).lines().peekable();
        while let Some(line) = lines.next() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Order>(&line) {
                Ok(order) => f(order),
                Err(_) if lines.peek().is_none() => {
                    eprintln!("journal: skipping a torn last line");
                }
                Err(error) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
                }
            }
        }
        Ok(())
    }

    /// The order with id `id`. Ids grow line by line (one writer assigns them in
    /// order), so this is a binary search over byte offsets: a handful of reads, however
    /// long the journal.
    pub fn find(&self, id: u64) -> std::io::Result<Option<Order>> {
        let mut file = BufReader::new(File::open(&self.path)?);
        let (mut lo, mut hi) = (0_u64, file.get_ref().metadata()?.len());
        // Invariant: a line holding `id`, if any, starts in [lo, hi).
        while hi - lo > 4096 {
            let mid = lo + (hi - lo) / 2;
            match line_after(&mut file, mid)? {
                Some((_, order)) if order.id == id => return Ok(Some(order)),
                Some((start, order)) if order.id < id => lo = start + 1,
                _ => hi = mid + 1,
            }
        }
        file.seek(SeekFrom::Start(lo))?;
        if lo > 0 {
            // `lo` may be inside a line: start at the next one.
            let mut skipped = Vec::new();
            file.read_until(b'\n', &mut skipped)?;
        }
        let mut line = String::new();
        while file.stream_position()? <= hi {
            line.clear();
            if file.read_line(&mut line)? == 0 {
                break;
            }
            if let Ok(order) = serde_json::from_str::<Order>(&line)
                && order.id == id
            {
                return Ok(Some(order));
            }
        }
        Ok(None)
    }
}

/// The first whole line starting after byte `offset` (its start, and its order).
fn line_after(file: &mut BufReader<File>, offset: u64) -> std::io::Result<Option<(u64, Order)>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut skipped = Vec::new();
    let read = file.read_until(b'\n', &mut skipped)?;
    let start = offset + read as u64;
    let mut line = String::new();
    if file.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(serde_json::from_str::<Order>(&line)
        .ok()
        .map(|order| (start, order)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::orders::Line;

    #[test]
    fn finds_any_order_by_id_and_streams_them_all() {
        let dir =
            std::env::temp_dir().join(format!("reactree-journal-find-{}", std::process::id()));
        let journal = Journal::open(dir.join("orders.jsonl")).unwrap();
        let orders: Vec<Order> = (1..=3000)
            .map(|id| Order {
                id,
                customer: format!("customer-{}", id % 7),
                lines: vec![Line {
                    sku: "apple".into(),
                    quantity: (id % 5) as u32 + 1,
                }],
                total_cents: id * 30,
                placed_at_ms: 0,
            })
            .collect();
        for chunk in orders.chunks(500) {
            journal.append(chunk).unwrap();
        }
        for id in [1, 2, 777, 1500, 2999, 3000] {
            assert_eq!(
                journal.find(id).unwrap().as_ref(),
                orders.get(id as usize - 1),
                "id {id}"
            );
        }
        assert_eq!(journal.find(0).unwrap(), None);
        assert_eq!(journal.find(3001).unwrap(), None);
        let mut seen = 0;
        journal.for_each(|_| seen += 1).unwrap();
        assert_eq!(seen, 3000);
        let _ = std::fs::remove_dir_all(dir);
    }
}
