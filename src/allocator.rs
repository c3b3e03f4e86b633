//! The binary's allocator: mimalloc, tuned to give memory back. A plan of
//! 50,000 objects allocates and frees millions of small documents on several
//! threads; mimalloc is faster at that than glibc, but by default keeps freed
//! memory for a second and asks for transparent huge pages, which issue #17's
//! 300 MB ceiling cannot afford (docs/benchmarks.md).
//!
//! Huge pages are off at build time (mimalloc's `no_thp` feature, Cargo.toml).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the bundled mimalloc v3 (`mi_option_e` in its
/// `mimalloc.h`); `tests::purge_delay_is_the_bundled_option` checks the number
/// against the option's documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the OS at once instead of after a second. On a
/// 50,000-object re-plan that is about 15 MB less peak RSS, at the same speed.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one process-wide integer option, which mimalloc reads
        // whenever it purges; 0 is a documented value ("purge immediately").
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_is_the_bundled_option() {
        // mimalloc v3's options.c: purge_delay defaults to 1000 ms. A
        // renumbered enum in another mimalloc would read another option here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 1000);
        }
    }
}
