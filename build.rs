// `sqlx::migrate!` embeds ./migrations at compile time, but cargo does not know to rebuild
// when a migration is added or edited; without this a new migration is silently missing
// from the binary (and an edited one fails its checksum at run time).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
