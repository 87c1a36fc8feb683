//! The same descriptor set as ../build.rs, from the same .proto.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/load_config.proto");
    let descriptors = protox::compile(["load_config.proto"], ["../proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("load_config.bin");
    std::fs::write(out, descriptors.encode_to_vec())?;
    Ok(())
}
