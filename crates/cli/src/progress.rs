//! The terminal progress bar that the LVM pollers (`lvconvert --merge`)
//! and `dmsetup status --progress` draw: `[####------]`.

/// A bar `width` characters wide, `done` of `total` filled (full when
/// `total` is zero).
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = (done.min(total) * width as u64).checked_div(total).unwrap_or(width as u64) as usize;
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn test_bar_fills_in_proportion() {
        assert_eq!(bar(0, 10, 10), "[----------]");
        assert_eq!(bar(5, 10, 10), "[#####-----]");
        assert_eq!(bar(10, 10, 4), "[####]");
        assert_eq!(bar(0, 0, 3), "[###]");
        assert_eq!(bar(12, 10, 2), "[##]");
    }
}
