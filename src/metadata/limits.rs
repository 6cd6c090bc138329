//! Size limits on registration requests, checked while parsing and validating.

/// Size limits on registration requests. The defaults keep one registration
/// below about 64 KiB of stored data.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body in bytes (default 64 KiB); larger → `413`.
    pub max_body_bytes: usize,
    /// Longest accepted string value in bytes (default 2048).
    pub max_string_length: usize,
    /// Most values in one array, keys in `jwks`, and extension members
    /// (default 32).
    pub max_array_items: usize,
    /// Most language variants of one human-readable member (default 32).
    pub max_language_variants: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_string_length: 2048,
            max_array_items: 32,
            max_language_variants: 32,
        }
    }
}
