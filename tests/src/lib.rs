//! End-to-end tests live in `tests/`; see ARCHITECTURE.md.
