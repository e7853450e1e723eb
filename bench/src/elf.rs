//! What a program file is: its size on disk and whether it is static (an
//! ELF file with no program interpreter, i.e. no dynamic loader at run time).

use std::fs;
use std::path::{Path, PathBuf};

/// The real file behind `path` (symlinks followed), its size, and whether
/// it is static. `None` when it is missing or not a 64-bit ELF file.
pub fn inspect(path: &Path) -> Option<(PathBuf, u64, bool)> {
    let real = fs::canonicalize(path).ok()?;
    let bytes = fs::read(&real).ok()?;
    let is_static = !has_interpreter(&bytes)?;
    Some((real, bytes.len() as u64, is_static))
}

/// True when the ELF program headers hold a PT_INTERP entry.
fn has_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}
