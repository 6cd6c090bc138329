//! The pipeline: from a request to a response for the four operations,
//! register (RFC 7591 §3), read, update and delete (RFC 7592 §2). It decides
//! every fetch a registration needs (the checks that read a fetched document
//! take the fetcher it passes).

mod bearer;
mod body;
mod client_information;
mod delete;
mod failure;
pub(crate) mod initial_access_token;
mod manage;
mod prepare;
mod quotas;
mod read;
mod register;
#[cfg(feature = "client-id-metadata-document")]
mod resolve;
mod revision;
mod update;

pub(crate) use delete::delete;
pub(crate) use failure::{rng_failed, unavailable};
pub(crate) use read::read;
pub(crate) use register::register;

pub(crate) use update::update;
