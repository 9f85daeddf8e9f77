//! pf (todo)
