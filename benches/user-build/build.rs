//! Compiles the shared benchmark modules without the peer maps.
fn main() {
    println!("cargo::rustc-cfg=lfmap_user_build");
}
