//! The requests the bench makes: an endpoint through the router, and the same work done
//! directly against its upstreams (the stand-in's RPCs, the fake provider), which is the
//! endpoint's fair baseline.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone)]
pub struct Api {
    pub router: String,
    pub rest: String,
    pub provider: String,
    pub anon: String,
    pub service: String,
    pub public_url: String,
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// One request; an unexpected status fails the bench rather than skewing it.
fn expect(sent: Result<ureq::Response, ureq::Error>, ok: &[u16]) -> Result<Value> {
    match sent {
        Ok(r) if ok.contains(&r.status()) => Ok(r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) if ok.contains(&s) => {
            Ok(r.into_json().unwrap_or(Value::Null))
        }
        Ok(r) => bail!("{} answered {}", r.get_url(), r.status()),
        Err(ureq::Error::Status(s, r)) => {
            let url = r.get_url().to_string();
            bail!(
                "{url} answered {s}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => bail!("request failed: {e}"),
    }
}

impl Api {
    /// A path the router answers itself (404): `wrangler dev`'s own cost, the floor.
    pub fn floor(&self, agent: &ureq::Agent) -> Result<()> {
        expect(
            agent.get(&format!("{}/v1/__floor", self.router)).call(),
            &[404],
        )
        .map(drop)
    }

    pub fn get_me(&self, agent: &ureq::Agent, token: &str) -> Result<()> {
        let req = agent
            .get(&format!("{}/v1/me", self.router))
            .set("authorization", &format!("Bearer {token}"));
        expect(req.call(), &[200]).map(drop)
    }

    /// `GET /v1/me`'s one upstream call.
    pub fn get_my_profile(&self, agent: &ureq::Agent, token: &str) -> Result<()> {
        self.rpc(agent, "get_my_profile", Some(token), json!({}), &[200])
            .map(drop)
    }

    pub fn post_generation(&self, agent: &ureq::Agent, token: &str, body: &Value) -> Result<()> {
        let req = agent
            .post(&format!("{}/v1/generations", self.router))
            .set("authorization", &format!("Bearer {token}"));
        expect(req.send_json(body), &[202]).map(drop)
    }

    /// What `POST /v1/generations` does upstream for a provider model, call by call:
    /// reserve and record, take a provider token, submit the prediction, record its id.
    pub fn create_and_submit(&self, agent: &ureq::Agent, token: &str, body: &Value) -> Result<()> {
        let created = self.rpc(
            agent,
            "create_generation",
            Some(token),
            json!({"p_kind": body["kind"], "p_model": body["model"], "p_prompt": body["prompt"],
                   "p_params": body["params"], "p_idempotency_key": null}),
            &[200],
        )?;
        let id = created["generation"]["id"].as_str().unwrap_or_default();
        // 503: the pool holds no token, and the function falls back to its configured one.
        self.rpc(
            agent,
            "next_provider_token",
            None,
            json!({"p_provider": "replicate"}),
            &[200, 503],
        )?;
        let prediction = expect(
            agent
                .post(&format!(
                    "{}/v1/models/{}/predictions",
                    self.provider,
                    created["provider_ref"].as_str().unwrap_or_default()
                ))
                .set("authorization", "Bearer r8_local_dev")
                .set("cancel-after", "30m")
                .send_json(json!({
                    "input": created["provider_input"],
                    "webhook": format!("{}/v1/webhooks/replicate?generation_id={id}", self.public_url),
                    "webhook_events_filter": ["completed"],
                })),
            &[200, 201],
        )?;
        self.rpc(
            agent,
            "mark_generation_submitted",
            None,
            json!({"p_generation_id": id, "p_provider": "replicate",
                   "p_prediction_id": prediction["id"]}),
            &[200],
        )
        .map(drop)
    }

    /// A PostgREST RPC: with the user's token, or with the service-role key when `None`.
    fn rpc(
        &self,
        agent: &ureq::Agent,
        function: &str,
        token: Option<&str>,
        args: Value,
        ok: &[u16],
    ) -> Result<Value> {
        let (apikey, bearer) = match token {
            Some(t) => (&self.anon, t),
            None => (&self.service, self.service.as_str()),
        };
        let req = agent
            .post(&format!("{}/rpc/{function}", self.rest))
            .set("apikey", apikey)
            .set("authorization", &format!("Bearer {bearer}"));
        expect(req.send_json(args), ok)
    }
}
