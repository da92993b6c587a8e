//! Integration tests of the emulators over real HTTP on loopback.

mod google;
