//! Import & export in real Chromium: an admin uploads a customers file as a dry run, sees the
//! counts and the refused line with its reason, imports it for real and sees the counts; the
//! export links are there. Screenshots in target/browser-artifacts/screens/admin-data-*.png.

use crate::browser::{browser, click, find, scenario, sign_in, wait_text};
use crate::browser_layout::screenshot;
use crate::support::{ADMIN_PASSWORD, TestApp};

#[tokio::test]
async fn an_admin_imports_customers_after_a_dry_run_in_the_console() {
    let Some(b) = browser().await else { return };
    let t = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("客户.csv");
    std::fs::write(
        &file,
        "外部编号,姓名,手机\nB1,王小明,13800138000\nB2,李雷,12\nB3,韩梅梅,13900139000\n",
    )
    .unwrap();
    scenario("admin-data", &b, || async {
        let c = &b.client;
        sign_in(&t, c, "admin", ADMIN_PASSWORD).await;
        click(c, "nav.nav a[data-nav=\"admin-data\"]").await;
        wait_text(c, "main h1", "Import & export").await;
        find(c, "#data-file")
            .await
            .send_keys(&file.to_string_lossy())
            .await
            .unwrap();
        click(c, "#data-upload").await;
        find(c, "#data-status[data-status=\"done\"]").await;
        wait_text(c, "#data-counts", "2 would be created").await;
        wait_text(c, "#data-counts", "1 refused").await;
        let refused = wait_text(c, "#data-rows tr[data-line=\"3\"]", "not a phone number").await;
        assert!(refused.contains("phone"), "{refused}");
        screenshot(c, "admin-data-dry-run").await;
        let count = || async {
            let (_, list) = t.get("/api/customers?limit=50", &t.admin_token).await;
            list.to_string().matches("韩梅梅").count()
        };
        assert_eq!(count().await, 0, "a dry run writes nothing");

        click(c, "#data-dry").await;
        click(c, "#data-upload").await;
        wait_text(c, "#data-status[data-status=\"done\"]", "Import").await;
        wait_text(c, "#data-counts", "2 created").await;
        wait_text(c, "#data-rows tr[data-line=\"3\"]", "not a phone number").await;
        wait_text(c, "#data-job-list", "客户.csv").await;
        find(c, "#export-customers-csv").await;
        screenshot(c, "admin-data-import").await;
        assert_eq!(count().await, 1);
    })
    .await;
}
