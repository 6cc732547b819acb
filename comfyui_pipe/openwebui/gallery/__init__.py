"""Every user's generations, found again: one row per stored output with a thumbnail
made once, when the output is stored, and read page by page, newest first."""
