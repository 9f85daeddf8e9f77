use rudder::CustomResource;

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "A")]
enum ASpec {
    X,
}

#[derive(CustomResource)]
struct BSpec {
    x: i32,
}

fn main() {}
