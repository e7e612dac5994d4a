//! Runs the Cloud API emulator by hand (work in progress).
fn main() {}
