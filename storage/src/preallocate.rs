//! Reserving the disk tier's space when the store opens.
//!
//! foyer creates its block files sparse and has no recovery path for a write
//! that fails with ENOSPC (it panics and poisons its block manager). So the
//! store allocates every block file in full (`fallocate`) before foyer opens
//! the directory: a filesystem that cannot hold `disk_bytes` fails here, with
//! a clear error, and the node runs memory-only; once open, writes land in
//! space that is already allocated and cannot run out.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

/// foyer's block-file name for partition `id` (FsDevice's naming; the
/// `preallocated_files_are_the_ones_foyer_uses` test pins it).
pub(crate) fn block_file_name(id: usize) -> String {
    format!("foyer-storage-direct-fs-{id:08}")
}

/// The sizes of the files foyer creates in the directory, in order:
/// partition 0 is the tombstone log (one 16-byte slot per 4 KiB page of
/// capacity, rounded up to pages), then one partition per block while a
/// whole block still fits.
pub(crate) fn layout(disk_bytes: usize, block_bytes: usize) -> Vec<usize> {
    const PAGE: usize = 4096;
    const SLOTS_PER_PAGE: usize = PAGE / 16;
    let capacity = disk_bytes - disk_bytes % PAGE;
    let tombstones = (capacity / PAGE).div_ceil(SLOTS_PER_PAGE) * PAGE;
    let blocks = capacity.saturating_sub(tombstones) / block_bytes;
    std::iter::once(tombstones)
        .chain(std::iter::repeat_n(block_bytes, blocks))
        .collect()
}

/// Allocate every file of [`layout`] in `dir`.
pub(crate) fn reserve(dir: &Path, disk_bytes: usize, block_bytes: usize) -> io::Result<()> {
    for (id, size) in layout(disk_bytes, block_bytes).into_iter().enumerate() {
        let path = dir.join(block_file_name(id));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size as u64) {
            Ok(()) => {}
            // A filesystem without fallocate: nothing to reserve with; foyer's
            // sparse files it is.
            Err(e) if e == rustix::io::Errno::OPNOTSUPP => return Ok(()),
            Err(e) => {
                return Err(io::Error::new(
                    io::Error::from(e).kind(),
                    format!(
                        "cannot reserve {disk_bytes} bytes for the disk tier ({}: {e}); \
                         lower storage.disk_bytes or free space",
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}
