//! Tools: Rust functions a model may call. The JSON Schema the model sees is derived from the
//! argument type; the parameters an agent's context supplies are left out of it and filled in
//! from the context at call time, so the model can neither see nor forge them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Output;
use crate::backend::chat::providers::ToolDefinition;

/// How long a tool may run unless it says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a tool call failed; the model receives the message as the call's result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl ToolError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<crate::backend::AppError> for ToolError {
    fn from(error: crate::backend::AppError) -> Self {
        Self(error.to_string())
    }
}

type Run = Arc<dyn Fn(Value, Output) -> BoxFuture<'static, Result<Value, ToolError>> + Send + Sync>;

/// Says what a call that needs approval will do, from its arguments.
type Summary = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// A function a model may call.
#[derive(Clone)]
pub struct Tool {
    name: String,
    description: String,
    /// The argument type's schema, without the injected parameters.
    parameters: Value,
    /// Parameters filled from the context.
    injected: Vec<String>,
    approval: Option<Summary>,
    timeout: Duration,
    run: Run,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("injected", &self.injected)
            .finish_non_exhaustive()
    }
}

/// The JSON Schema of `T`, inlined (no `$ref`s), without a title or meta-schema: what a model
/// or a form reads.
pub fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(fields) = schema.as_object_mut() {
        fields.remove("title");
    }
    schema
}

impl Tool {
    /// A tool named `name` (letters, digits, `_`) that runs `function` with the arguments the
    /// model gives, read as `A`, and an [`Output`] to show widgets with. What it returns is
    /// sent to the model as JSON.
    pub fn new<A, R, F, Fut>(name: &str, description: &str, function: F) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize,
        F: Fn(A, Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let function = Arc::new(function);
        let run: Run = Arc::new(move |arguments, output| {
            let function = function.clone();
            Box::pin(async move {
                let arguments: A = serde_json::from_value(arguments)
                    .map_err(|e| ToolError(format!("invalid arguments: {e}")))?;
                let result = function(arguments, output).await?;
                serde_json::to_value(result).map_err(|e| ToolError(format!("the result is not JSON: {e}")))
            })
        });
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters: schema_of::<A>(),
            injected: Vec::new(),
            approval: None,
            timeout: DEFAULT_TIMEOUT,
            run,
        }
    }

    /// Like [`Tool::new`], for a function that takes a clone of `state` (a store, a client)
    /// with each call.
    pub fn over<S, A, R, F, Fut>(state: S, name: &str, description: &str, function: F) -> Self
    where
        S: Clone + Send + Sync + 'static,
        A: DeserializeOwned + JsonSchema,
        R: Serialize,
        F: Fn(S, A, Output) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        Self::new(name, description, move |arguments, output| function(state.clone(), arguments, output))
    }

    /// Fills the parameters that have the name of a field of the context `C` from the
    /// context at call time, and hides them from the model.
    pub fn with_context<C: JsonSchema>(mut self) -> Self {
        let context = schema_of::<C>();
        let Some(fields) = context.get("properties").and_then(Value::as_object) else { return self };
        let Some(parameters) = self.parameters.as_object_mut() else { return self };
        if let Some(properties) = parameters.get_mut("properties").and_then(Value::as_object_mut) {
            self.injected =
                fields.keys().filter(|f| properties.remove(f.as_str()).is_some()).cloned().collect();
        }
        if let Some(required) = parameters.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|name| !self.injected.iter().any(|f| Some(f.as_str()) == name.as_str()));
        }
        self
    }

    /// Makes every call wait for the user's approval, described by `summary` from the
    /// arguments (for tools that change data).
    pub fn needs_approval(mut self, summary: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        self.approval = Some(Arc::new(summary));
        self
    }

    /// How long a call may run before it fails as timed out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the model is told about the tool.
    pub fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// What a call will do, when calls need approval.
    pub fn approval_summary(&self, arguments: &Value) -> Option<String> {
        self.approval.as_ref().map(|summary| summary(arguments))
    }

    /// Runs a call: `arguments` as the model gave them, with the injected parameters taken from
    /// `context` (whatever the model sent for them), within the tool's time limit.
    pub async fn call(&self, arguments: &Value, context: &Value, output: Output) -> Result<Value, ToolError> {
        let mut arguments: Map<String, Value> = match arguments {
            Value::Object(fields) => fields.clone(),
            Value::Null => Map::new(),
            _ => return Err(ToolError::new("the arguments are not a JSON object")),
        };
        for field in &self.injected {
            arguments.insert(field.clone(), context.get(field).cloned().unwrap_or(Value::Null));
        }
        match tokio::time::timeout(self.timeout, (self.run)(Value::Object(arguments), output)).await {
            Ok(result) => result,
            Err(_) => {
                Err(ToolError(format!("the tool did not answer within {} s", self.timeout.as_secs_f32())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    struct CheckEligibility {
        /// The product to check.
        product_id: String,
        user_id: i64,
        account_tier: String,
    }

    #[derive(Serialize, serde::Deserialize, JsonSchema)]
    struct SalesContext {
        user_id: i64,
        account_tier: String,
    }

    fn eligibility() -> Tool {
        Tool::new(
            "check_eligibility",
            "Whether the user may use a product",
            |a: CheckEligibility, _| async move {
                Ok(format!("{} {} {}", a.product_id, a.user_id, a.account_tier))
            },
        )
        .with_context::<SalesContext>()
    }

    #[tokio::test]
    async fn context_parameters_are_hidden_from_the_model_and_filled_at_call_time() {
        let tool = eligibility();
        let parameters = tool.definition().parameters;
        assert_eq!(parameters["properties"].as_object().unwrap().keys().collect::<Vec<_>>(), ["product_id"]);
        assert_eq!(parameters["required"], serde_json::json!(["product_id"]));
        assert_eq!(parameters["properties"]["product_id"]["description"], "The product to check.");
        let context = serde_json::json!({"user_id": 7, "account_tier": "premium"});
        let (output, _events) = Output::detached();
        // A forged user id is replaced by the context's.
        let forged = serde_json::json!({"product_id": "pro", "user_id": 1});
        assert_eq!(tool.call(&forged, &context, output.clone()).await.unwrap(), "pro 7 premium");
        let error = tool.call(&serde_json::json!({}), &context, output).await.unwrap_err();
        assert!(error.0.contains("product_id"), "{error}");
    }

    #[tokio::test]
    async fn a_slow_tool_times_out() {
        let tool = Tool::new("wait", "Waits", |_: crate::backend::agents::NoArgs, _| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .timeout(Duration::from_millis(10));
        let (output, _events) = Output::detached();
        let error = tool.call(&Value::Null, &Value::Null, output).await.unwrap_err();
        assert!(error.0.contains("did not answer"), "{error}");
    }
}
