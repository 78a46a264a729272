//! One error type for the whole core. Python maps each kind to a jwstio exception class.

use std::fmt;
use std::path::Path;

/// What went wrong, by category (decides the Python exception class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes are not valid FITS (ValueError subclass in Python).
    Format,
    /// The ASDF extension or its YAML/blocks are invalid (ValueError subclass).
    Asdf,
    /// A requested HDU or key does not exist (KeyError subclass).
    Missing,
    /// An operating-system error (OSError family).
    Io,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
    /// The file the error is about, when known.
    pub path: Option<String>,
    /// For Io errors: the raw OS error kind, so Python can pick FileNotFoundError etc.
    pub io_kind: Option<std::io::ErrorKind>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn format(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Format,
            msg: msg.into(),
            path: None,
            io_kind: None,
        }
    }
    pub fn asdf(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Asdf,
            msg: msg.into(),
            path: None,
            io_kind: None,
        }
    }
    pub fn missing(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Missing,
            msg: msg.into(),
            path: None,
            io_kind: None,
        }
    }
    pub fn io(err: &std::io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            msg: err.to_string(),
            path: None,
            io_kind: Some(err.kind()),
        }
    }
    /// Attach the file name (first one wins).
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.display().to_string());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p, self.msg),
            None => write!(f, "{}", self.msg),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(&e)
    }
}
