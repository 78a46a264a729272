//! `_core.Scanner`: a header scan running on its own Rust threads. Python starts it, polls
//! `progress()` / `wait(timeout)` (the GIL is released while waiting) and collects `result()`.
//! No Python object is made per file until the result is collected.

use super::fits::value_to_py;
use crate::error::Error;
use crate::scan::{self, Entry, FileResult, Progress, Query};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Scanner>()?;
    m.add_function(wrap_pyfunction!(scan_walk, m)?)?;
    Ok(())
}

type Outcome = Result<Vec<FileResult>, Error>;

struct State {
    progress: Progress,
    outcome: Mutex<Option<Outcome>>,
    finished: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked cannot leave the Option half-written; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running scan of files and folders for header keywords.
///
/// `Scanner(roots, keys, patterns, recursive, threads, listed)` starts at once on a background
/// thread. With `listed=True` the roots are files from an earlier `scan_walk` and are not walked.
#[pyclass(frozen, module = "jwstio._core")]
pub struct Scanner {
    state: Arc<State>,
    taken: Mutex<bool>,
}

#[pymethods]
impl Scanner {
    #[new]
    #[pyo3(signature = (roots, keys, patterns, recursive=true, threads=None, listed=false))]
    fn new(
        roots: Vec<PathBuf>,
        keys: Vec<String>,
        patterns: Vec<String>,
        recursive: bool,
        threads: Option<usize>,
        listed: bool,
    ) -> PyResult<Self> {
        // Bad specs or patterns are the caller's mistake: raise now, before any thread starts.
        let query = Query::parse(&keys).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let globs = scan::glob_set(&patterns).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let state = Arc::new(State {
            progress: Progress::default(),
            outcome: Mutex::new(None),
            finished: Condvar::new(),
        });
        let st = state.clone();
        std::thread::Builder::new()
            .name("jwstio-scan".into())
            .spawn(move || {
                // `listed`: the roots are an already-walked file list (read each as a file).
                let entries = if listed {
                    roots.into_iter().map(Entry::File).collect()
                } else {
                    scan::walk(&roots, &globs, recursive)
                };
                st.progress.total.store(entries.len(), Ordering::Relaxed);
                st.progress.listed.store(true, Ordering::Release);
                let out = scan::scan_entries(&entries, &query, threads, &st.progress);
                *lock(&st.outcome) = Some(out);
                st.finished.notify_all();
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start scan thread: {e}")))?;
        Ok(Scanner {
            state,
            taken: Mutex::new(false),
        })
    }

    /// `(done, total)`; total is None while folders are still being listed.
    fn progress(&self) -> (usize, Option<usize>) {
        let p = &self.state.progress;
        let total = p
            .listed
            .load(Ordering::Acquire)
            .then(|| p.total.load(Ordering::Relaxed));
        (p.done.load(Ordering::Relaxed), total)
    }

    /// Wait up to `timeout` seconds (forever when None) for the scan to finish; True if it has.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        let st = &self.state;
        py.detach(|| {
            let guard = lock(&st.outcome);
            match timeout {
                None => {
                    let g = st
                        .finished
                        .wait_while(guard, |o| o.is_none())
                        .unwrap_or_else(|p| p.into_inner());
                    g.is_some()
                }
                Some(t) => {
                    let d = Duration::from_secs_f64(t.clamp(0.0, 1e6));
                    let (g, _) = st
                        .finished
                        .wait_timeout_while(guard, d, |o| o.is_none())
                        .unwrap_or_else(|p| p.into_inner());
                    g.is_some()
                }
            }
        })
    }

    /// Ask the workers to skip the files not yet read (their rows say "scan cancelled").
    fn cancel(&self) {
        self.state.progress.cancel.store(true, Ordering::Relaxed);
    }

    /// Wait for the end, then return `(paths, errors, columns)`: paths as str, errors as str
    /// ('' when read), and one list per key with the values (None when missing, undefined or
    /// unparsable). Can be called once.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        {
            let mut taken = lock(&self.taken);
            if *taken {
                return Err(PyRuntimeError::new_err("scan result already taken"));
            }
            *taken = true;
        }
        while !self.wait(py, Some(0.2)) {
            py.check_signals()?;
        }
        let outcome = lock(&self.state.outcome).take();
        let rows = match outcome {
            Some(Ok(rows)) => rows,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(PyRuntimeError::new_err("scan finished without a result")),
        };
        results_to_py(py, &rows)
    }
}

fn results_to_py<'py>(py: Python<'py>, rows: &[FileResult]) -> PyResult<Bound<'py, PyAny>> {
    let nkeys = rows.first().map_or(0, |r| r.values.len());
    let paths = PyList::empty(py);
    let errors = PyList::empty(py);
    let cols: Vec<Bound<'py, PyList>> = (0..nkeys).map(|_| PyList::empty(py)).collect();
    for r in rows {
        paths.append(r.path.as_os_str())?;
        errors.append(r.error.as_deref().unwrap_or(""))?;
        for (col, v) in cols.iter().zip(&r.values) {
            match v {
                Some(v) => {
                    let (obj, status) = value_to_py(py, v)?;
                    if status == 0 {
                        col.append(obj)?;
                    } else {
                        col.append(py.None())?;
                    }
                }
                None => col.append(py.None())?,
            }
        }
    }
    let cols = PyList::new(py, cols)?;
    Ok((paths, errors, cols).into_pyobject(py)?.into_any())
}

/// List the files a scan of `roots` would read: `[(path, error or None)]`, in scan order.
#[pyfunction]
#[pyo3(signature = (roots, patterns, recursive=true))]
fn scan_walk<'py>(
    py: Python<'py>,
    roots: Vec<PathBuf>,
    patterns: Vec<String>,
    recursive: bool,
) -> PyResult<Bound<'py, PyList>> {
    let globs = scan::glob_set(&patterns).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let entries = py.detach(|| scan::walk(&roots, &globs, recursive));
    let out = PyList::empty(py);
    for e in &entries {
        match e {
            Entry::File(p) => out.append((p.as_os_str(), py.None()))?,
            Entry::Failed(p, msg) => out.append((p.as_os_str(), msg))?,
        }
    }
    Ok(out)
}
