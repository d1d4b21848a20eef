//! What a WhatsApp message can hold. The Meta channel builds its messages
//! within these limits, and `uic lint` refuses a flow that would exceed them,
//! so a label is never cut silently.

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
