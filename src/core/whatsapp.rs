//! What a WhatsApp message can hold, and how a long list of choices is
//! paged. The Meta channel builds its messages within these limits, and `uic
//! lint` refuses a label that would exceed them, so none is cut silently.

/// Most choices shown as reply buttons; more become a list.
pub const MAX_BUTTONS: usize = 3;
/// Characters of a reply button's title (and of the button that opens a list).
pub const MAX_BUTTON_TITLE: usize = 20;
/// Most rows of a list.
pub const MAX_LIST_ROWS: usize = 10;
/// Characters of a list row's title.
pub const MAX_LIST_ROW_TITLE: usize = 24;
/// Characters of a text message.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Characters of an interactive message's body.
pub const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;

/// The id of the last row of a paged list, which shows page `n` (from 0)
/// when tapped: `__page:n`. The page travels in the row id, so a session
/// stores nothing about it.
pub const PAGE_ROW_PREFIX: &str = "__page:";

/// Choices shown on each page of a paged list, before its "more" row.
pub const CHOICES_PER_PAGE: usize = MAX_LIST_ROWS - 1;

/// Which of `count` choices page `page` (from 0) of a list shows, and the
/// page its "more" row leads to, if any. Up to [`MAX_LIST_ROWS`] choices fit
/// on one page; more are shown [`CHOICES_PER_PAGE`] at a time, each page but
/// the last ending with a "more" row; the last page holds up to
/// [`MAX_LIST_ROWS`]. A page past the end shows the first.
pub fn list_page(count: usize, page: usize) -> (std::ops::Range<usize>, Option<usize>) {
    if count <= MAX_LIST_ROWS {
        return (0..count, None);
    }
    let start = page * CHOICES_PER_PAGE;
    if start >= count {
        return list_page(count, 0);
    }
    if count - start <= MAX_LIST_ROWS {
        (start..count, None)
    } else {
        (start..start + CHOICES_PER_PAGE, Some(page + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_paged_nine_at_a_time() {
        assert_eq!(list_page(10, 0), (0..10, None));
        assert_eq!(list_page(26, 0), (0..9, Some(1)));
        assert_eq!(list_page(26, 1), (9..18, Some(2)));
        assert_eq!(list_page(26, 2), (18..26, None));
        assert_eq!(list_page(19, 1), (9..19, None));
        assert_eq!(list_page(26, 7), (0..9, Some(1)));
    }
}
