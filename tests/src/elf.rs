//! What an ELF file says about itself: static or not, and for which machine.

/// True for a 64-bit ELF executable without a PT_INTERP program header, that
/// is, one that needs no dynamic loader.
pub fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if !elf.starts_with(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(entsize), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(count))
        .map(|i| phoff as usize + i * usize::from(entsize))
        .all(|at| u32_at(at).is_some_and(|kind| kind != PT_INTERP))
}

/// `e_machine` of a 64-bit little-endian ELF file: 62 for x86_64, 183 for
/// aarch64.
pub fn machine(elf: &[u8]) -> Option<u16> {
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    elf.get(0x12..0x14)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}
