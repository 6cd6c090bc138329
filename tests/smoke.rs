mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn register_read_update_delete() {
    let dcr = open();
    let a = registered(&dcr, json!({"redirect_uris": ["https://c.example/cb"], "client_name": "C", "client_name#fr": "C fr"})).await;
    println!("{}", serde_json::to_string_pretty(&a.json).unwrap());
    let path = client_path(&a);
    let rat = a.str("registration_access_token").to_owned();
    let r = read(&dcr, &path, &rat).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    let mut body = r.json.clone();
    body.as_object_mut().unwrap().retain(|k, _| {
        ![
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
            "client_id_issued_at",
            "client_secret",
        ]
        .contains(&k.as_str())
    });
    body["client_name"] = json!("D");
    let u = update(&dcr, &path, &rat, body).await;
    assert_eq!(u.status, 200, "{:?}", u.json);
    println!("{}", serde_json::to_string_pretty(&u.json).unwrap());
    let old = read(&dcr, &path, &rat).await;
    assert_eq!(old.status, 401);
    let rat2 = u.str("registration_access_token").to_owned();
    let d = delete(&dcr, &path, &rat2).await;
    assert_eq!(d.status, 204);
    assert_eq!(read(&dcr, &path, &rat2).await.status, 401);
}
