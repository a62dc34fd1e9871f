//! DER codec.
