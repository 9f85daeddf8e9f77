//! cp (todo)
