//! Admin end to end, through the real WASM in workerd and Postgres: staff list and change users
//! under the role matrix (a moderator lists, an admin changes users and moderators, only a
//! super_admin touches admin ranks, nobody themselves), every change (a credit grant and a
//! provider token re-enabled too) is in the audit that only admins read, two super_admins
//! demoting each other at once leave one, and the stats agree with direct counts after a
//! refresh.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

/// The body of a reply that must have `status`.
fn body(r: Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{r:?}");
    r.body
}

/// Asserts `r` is our error with `status` and a message containing `message`.
fn refused(r: Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "{r:?}");
    r.error_code();
    let said = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(said.contains(message), "wanted {message:?}: {r:?}");
}

fn set_role(stack: &Stack, user: &User, role: &str) {
    stack
        .db()
        .execute(
            "update public.profiles set role = $2::text::public.app_role where id = $1",
            &[&user.id, &role],
        )
        .expect("set role");
}

fn patch_user(stack: &Stack, by: &User, user: &User, patch: Value) -> Reply {
    stack.json(
        "PATCH",
        &format!("/v1/admin/users/{}", user.id),
        Some(&by.token),
        &patch,
    )
}

/// The audit's entries about `user`, newest first, as `admin` reads them.
fn audit_of(stack: &Stack, admin: &User, user: &User) -> Vec<Value> {
    let page = body(
        stack.get(
            &format!("/v1/admin/audit?target_user_id={}&limit=100", user.id),
            Some(&admin.token),
        ),
        200,
    );
    page["items"].as_array().unwrap().clone()
}

#[test]
fn staff_roles_decide_who_lists_and_changes_users_and_every_change_is_audited() {
    let stack = Stack::from_env();
    let superuser = stack.new_user("admin-super");
    set_role(&stack, &superuser, "super_admin");
    let admin = stack.new_user("admin-admin");
    stack.make_admin(&admin);
    let moderator = stack.new_user("admin-mod");
    set_role(&stack, &moderator, "moderator");
    let alice = stack.new_user("admin-alice");
    let bob = stack.new_user("admin-bob");
    let (s, a, m, u) = (
        Some(superuser.token.as_str()),
        Some(admin.token.as_str()),
        Some(moderator.token.as_str()),
        Some(alice.token.as_str()),
    );

    // Listing: moderators and up; searched by a part of the email, case-insensitive.
    let search = format!("/v1/admin/users?q={}", &alice.email[..24].to_uppercase());
    refused(stack.get(&search, u), 403, "moderator role required");
    refused(stack.get(&search, None), 401, "");
    let page = body(stack.get(&search, m), 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["email"], alice.email.as_str());
    assert_eq!(page["items"][0]["role"], "user");
    assert_eq!(page["items"][0]["plan"], "free");
    refused(
        stack.get("/v1/admin/users?role=owner", m),
        400,
        "role must be one of user, moderator, admin, super_admin",
    );
    refused(
        stack.get("/v1/admin/users?actve=true", m),
        400,
        "unknown query parameter actve",
    );
    // Newest first, in pages: the two newest moderators-and-up of this test, one at a time.
    let first = body(stack.get("/v1/admin/users?role=admin&limit=1", m), 200);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = body(
        stack.get(
            &format!("/v1/admin/users?role=admin&limit=1&cursor={cursor}"),
            m,
        ),
        200,
    );
    assert!(
        first["items"][0]["created_at"].as_str() >= second["items"][0]["created_at"].as_str()
            && first["items"][0]["id"] != second["items"][0]["id"],
        "{first} {second}"
    );

    // Changing: a moderator cannot; an admin changes users and moderators, with a reason.
    let promote = json!({"role": "moderator", "reason": "helps in the forum"});
    refused(
        patch_user(&stack, &moderator, &alice, promote.clone()),
        403,
        "admin role required",
    );
    refused(
        patch_user(&stack, &admin, &alice, json!({"role": "moderator"})),
        400,
        "reason is required",
    );
    refused(
        patch_user(
            &stack,
            &admin,
            &alice,
            json!({"plan": "gold", "reason": "x"}),
        ),
        400,
        "plan must be one of",
    );
    refused(
        patch_user(
            &stack,
            &admin,
            &alice,
            json!({"reason": "x", "email": "e@x"}),
        ),
        400,
        "unknown field",
    );
    refused(
        stack.json(
            "PATCH",
            &format!("/v1/admin/users/{}", uuid::Uuid::new_v4()),
            a,
            &json!({"plan": "pro", "reason": "x"}),
        ),
        404,
        "user not found",
    );
    let changed = body(patch_user(&stack, &admin, &alice, promote), 200);
    assert_eq!(
        (&changed["role"], &changed["plan"]),
        (&json!("moderator"), &json!("free"))
    );
    let changed = body(
        patch_user(
            &stack,
            &admin,
            &alice,
            json!({"plan": "pro", "is_active": false, "reason": "invoice 42 unpaid"}),
        ),
        200,
    );
    assert_eq!(
        (&changed["plan"], &changed["is_active"]),
        (&json!("pro"), &json!(false))
    );
    // Admin ranks are a super_admin's; nobody changes their own role.
    let grant_admin = json!({"role": "admin", "reason": "new ops lead"});
    refused(
        patch_user(&stack, &admin, &bob, grant_admin.clone()),
        403,
        "super_admin role required",
    );
    refused(
        patch_user(
            &stack,
            &admin,
            &admin,
            json!({"role": "user", "reason": "me"}),
        ),
        403,
        "nobody changes their own role or is_active",
    );
    let granted = body(patch_user(&stack, &superuser, &bob, grant_admin), 200);
    assert_eq!(granted["role"], "admin");
    refused(
        patch_user(
            &stack,
            &admin,
            &bob,
            json!({"is_active": false, "reason": "rogue"}),
        ),
        403,
        "super_admin role required",
    );
    assert_eq!(
        body(stack.get("/v1/admin/users?role=admin&limit=100", s), 200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["id"] == bob.id.to_string())
            .count(),
        1,
        "bob is listed among the admins"
    );

    // The earlier admin writes are audited too: a credit grant, a token re-enabled.
    stack.grant(&admin, &alice, 40);
    let token_id = uuid::Uuid::new_v4();
    stack
        .db()
        .execute(
            "insert into public.provider_tokens (id, provider, label, token, is_active, disabled_at)
             values ($1, 'admin-e2e', 'a', $2, false, now())",
            &[&token_id, &format!("r8_admin_e2e_{}", token_id.simple())],
        )
        .expect("a disabled token");
    let enable = format!("/v1/admin/provider-tokens/{token_id}/enable");
    refused(
        stack.json("POST", &enable, a, &json!({"reason": " "})),
        400,
        "reason is required",
    );
    let enabled = body(
        stack.json("POST", &enable, a, &json!({"reason": "secret rotated"})),
        200,
    );
    assert_eq!(enabled["is_active"], true);

    // The audit: each change once, newest first, with actor, reason and the changed fields.
    let entries = audit_of(&stack, &admin, &alice);
    let summary: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!([
                e["action"],
                e["actor_id"],
                e["reason"],
                e["before"],
                e["after"]
            ])
        })
        .collect();
    let (admin_id, ledger_after) = (admin.id.to_string(), &entries[0]["after"]);
    assert_eq!(
        summary,
        [
            json!(["credits.grant", admin_id, "test grant", {"balance": 0},
                   {"balance": 40, "amount": 40, "ledger_entry_id": ledger_after["ledger_entry_id"]}]),
            json!(["user.update", admin_id, "invoice 42 unpaid",
                   {"is_active": true, "plan": "free"}, {"is_active": false, "plan": "pro"}]),
            json!(["user.update", admin_id, "helps in the forum",
                   {"role": "user"}, {"role": "moderator"}]),
        ]
    );
    assert!(ledger_after["ledger_entry_id"].is_i64(), "{ledger_after}");
    let by_super = body(
        stack.get(&format!("/v1/admin/audit?actor_id={}", superuser.id), a),
        200,
    );
    assert_eq!(by_super["items"].as_array().unwrap().len(), 1, "{by_super}");
    assert_eq!(by_super["items"][0]["target_user_id"], bob.id.to_string());
    let token_entry = body(
        stack.get(
            &format!("/v1/admin/audit?actor_id={}&limit=100", admin.id),
            a,
        ),
        200,
    )["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "provider_token.enable")
        .cloned()
        .expect("the token's enabling is audited");
    assert_eq!(
        (
            &token_entry["target_user_id"],
            &token_entry["after"]["token_id"],
            &token_entry["reason"]
        ),
        (
            &Value::Null,
            &json!(token_id.to_string()),
            &json!("secret rotated")
        )
    );
    // Only admins read it.
    refused(stack.get("/v1/admin/audit", m), 403, "admin role required");
    refused(
        stack.get("/v1/admin/audit?actor_id=42", a),
        400,
        "actor_id must be a UUID",
    );
}

#[test]
fn two_super_admins_demoting_each_other_at_once_leave_one() {
    let stack = Stack::from_env();
    let one = stack.new_user("admin-super-one");
    let two = stack.new_user("admin-super-two");
    set_role(&stack, &one, "super_admin");
    set_role(&stack, &two, "super_admin");
    let demote = json!({"role": "admin", "reason": "coup"});
    let replies = std::thread::scope(|scope| {
        let a = scope.spawn(|| patch_user(&stack, &one, &two, demote.clone()).status);
        let b = scope.spawn(|| patch_user(&stack, &two, &one, demote.clone()).status);
        let mut both = [a.join().unwrap(), b.join().unwrap()];
        both.sort();
        both
    });
    assert_eq!(
        replies,
        [200, 403],
        "one demotion wins, the other finds itself demoted"
    );
    let supers: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.profiles where id = any($1) and role = 'super_admin'",
            &[&vec![one.id, two.id]],
        )
        .unwrap()
        .get(0);
    assert_eq!(supers, 1);
}

#[test]
fn the_stats_agree_with_direct_counts_after_a_refresh() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("admin-stats", 100);
    let moderator = stack.new_user("admin-stats-mod");
    set_role(&stack, &moderator, "moderator");
    let image = |prompt: &str| {
        json!({"kind": "image", "model": "flux-schnell", "prompt": prompt,
               "params": {"num_outputs": 1}})
    };
    let ok = stack.start_generation(&user, &image("a lighthouse for the stats"));
    let bad = stack.start_generation(&user, &image("[fail] a broken lighthouse"));
    assert_eq!(stack.wait_final(&user, &ok)["status"], "succeeded");
    assert_eq!(stack.wait_final(&user, &bad)["status"], "failed");

    refused(
        stack.get("/v1/admin/stats", Some(&user.token)),
        403,
        "admin role required",
    );
    refused(
        stack.get("/v1/admin/stats", Some(&moderator.token)),
        403,
        "admin role required",
    );
    // The scheduled job's own path: the service role runs it.
    let r = stack
        .rpc_client()
        .call("refresh_admin_stats", &json!({}), None);
    assert_eq!(r.status, 200, "{r:?}");

    // A refresh and the direct counts in one snapshot, while other tests keep working; a
    // scheduled refresh between it and the read shows as another refreshed_at: try again.
    for _ in 0..3 {
        let mut db = stack.db();
        let mut tx = db
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .unwrap();
        // A refresh committed after this snapshot began is a serialization failure here:
        // another try then.
        if tx.execute("select api.refresh_admin_stats()", &[]).is_err() {
            continue;
        }
        let direct: Value = tx.query_one(DIRECT, &[]).unwrap().get(0);
        tx.commit().unwrap();
        let stats = body(stack.get("/v1/admin/stats", Some(&admin.token)), 200);
        if stats["refreshed_at"] != direct["refreshed_at"] {
            continue;
        }
        let u = &stats["users"];
        assert_eq!(
            json!([
                u["total"],
                u["by_role"],
                u["by_plan"],
                u["active_7d"],
                u["active_30d"]
            ]),
            direct["users"]
        );
        assert!(u["active_7d"].as_i64() >= Some(1), "{u}");
        assert_eq!(stats["generations"], direct["generations"]);
        let c = &stats["credits"];
        assert_eq!(
            json!([c["granted"], c["spent"], c["balance"], c["held"]]),
            direct["credits"]
        );
        let today: Vec<&Value> = stats["provider_costs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["day"] == direct["today"] && r["model"] == "flux-schnell")
            .collect();
        assert_eq!(today.len(), 1, "{stats}");
        assert_eq!(
            json!([
                today[0]["events"],
                today[0]["credits"],
                today[0]["cost_usd"]
            ]),
            direct["flux_today"]
        );
        assert_eq!(stats["queue"]["tasks"], direct["tasks"]);
        return;
    }
    panic!("a scheduled refresh came between each refresh and its read");
}

/// What the stats must say, counted directly, in the shapes the stats answer.
const DIRECT: &str = "
select jsonb_build_object(
  'refreshed_at', now(),
  'users', jsonb_build_array(
    (select count(*) from public.profiles),
    (select jsonb_object_agg(role, n) from (select role, count(*) n from public.profiles group by role) r),
    (select jsonb_object_agg(plan, n) from (select plan, count(*) n from public.profiles group by plan) r),
    (select count(distinct user_id) from (
       select user_id from public.api_logs where user_id is not null and created_at > now() - interval '7 days'
       union all select user_id from public.generations where created_at > now() - interval '7 days') a),
    (select count(distinct user_id) from (
       select user_id from public.api_logs where user_id is not null and created_at > now() - interval '30 days'
       union all select user_id from public.generations where created_at > now() - interval '30 days') a)),
  'generations', (select jsonb_agg(jsonb_build_object('kind', kind, 'status', status, 'count', n,
       'credits_charged', c) order by kind || '/' || status)
     from (select kind, status, count(*) n, coalesce(sum(credits_charged), 0) c
           from public.generations group by 1, 2) g),
  'credits', jsonb_build_array(
    (select coalesce(sum(amount), 0) from public.credit_ledger where kind = 'grant'),
    (select coalesce(-sum(amount), 0) from public.credit_ledger where kind = 'settle'),
    (select coalesce(sum(balance), 0) from public.credit_accounts),
    (select coalesce(sum(held), 0) from public.credit_accounts)),
  'today', (now() at time zone 'UTC')::date,
  'flux_today', (select jsonb_build_array(count(*), sum(credits), sum(cost_usd)) from public.usage_events
     where model = 'flux-schnell' and (created_at at time zone 'UTC')::date = (now() at time zone 'UTC')::date),
  'tasks', (select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
     from (select status, count(*) n from public.tasks group by status) t))
";
