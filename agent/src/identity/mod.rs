//! Who made a call: the process (from /proc), the person behind it, the device, CI
//! context and the calling client.
