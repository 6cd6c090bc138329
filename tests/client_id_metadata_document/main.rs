//! URL client ids: OAuth Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document), one test binary: the
//! documents and their rules, their caching, and the bounds on fetches.

#[path = "../cimd_support/mod.rs"]
mod cimd_support;

mod cache;
mod documents;
mod fetch_bounds;
