//! The load config schema, compiled from `proto/load_config.proto` at build time.

use prost_reflect::{DescriptorPool, MessageDescriptor};

/// The encoded descriptor set that `build.rs` made from the .proto.
const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/load_config.bin"));

/// The full name of the root message of a load config.
pub const ROOT_MESSAGE: &str = "pl.demos.load_generation.LocustConfigFile";

/// The descriptor of `LocustConfigFile`, the root of every load config.
pub fn config_descriptor() -> MessageDescriptor {
    // The descriptor set is produced by our own build script from our own .proto:
    // failing to decode it is a build defect, not a user error.
    DescriptorPool::decode(DESCRIPTOR_SET)
        .ok()
        .and_then(|pool| pool.get_message_by_name(ROOT_MESSAGE))
        .expect("build.rs embeds a valid descriptor of load_config.proto")
}
