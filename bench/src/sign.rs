//! SigV4 signing for the load generator: the server's own client signer, as an SDK signs.

pub use wire::client::Signer;
