//! ASDF decoding (YAML tree + binary blocks) for the ASDF extension of JWST products.
