//! The local Cloud API emulator (work in progress).
