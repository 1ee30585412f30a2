//! Small pieces every Strongroom crate shares: secrets that zeroize and never print, the injectable clock,
//! random identifiers, the server's root key and the sealed documents it protects.
//!
//! Nothing here knows AWS shapes, HTTP or any service's domain.

pub mod clock;
pub mod random;
pub mod root_key;
pub mod sealed;
pub mod secret;
pub mod timefmt;

pub use clock::{Clock, ManualClock, SystemClock};
pub use root_key::RootKey;
pub use sealed::SealedStore;
pub use secret::{SecretBytes, SecretString};
