//! Parallel header scanning of many files.
