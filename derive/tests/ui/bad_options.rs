use rudder::CustomResource;

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "A", namespacd)]
struct ASpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "example", version = "v1", kind = "B")]
struct BSpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1")]
struct CSpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "D",
           printcolumn(name = "X", json_path = ".spec.x", type = "int"))]
struct DSpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "E", status = "EStatus",
           scale(spec = ".status.replicas", status = ".status.replicas"))]
struct ESpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "F", namespaced = true)]
struct FSpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "G", kind = "H")]
struct GSpec {
    x: i32,
}

#[derive(CustomResource)]
#[resource(group = "stable.example.com", version = "v1", kind = "I", printcolumn(name = "X"))]
struct ISpec {
    x: i32,
}

fn main() {}
