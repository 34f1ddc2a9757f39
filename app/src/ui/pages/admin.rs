use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{SetUserDisabled, list_users};
use crate::protocol::{UserInfo, UserSummary};
use crate::ui::common::{FormError, ListTable, Loaded, format_time, reloaded_after};
use crate::ui::session::RequireUser;

/// The administrator's list of accounts, with disable / enable.
#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Title text="Users" />
        <RequireUser children=|user: UserInfo| {
            if user.is_admin { view! { <UserList /> }.into_any() } else { view! { <super::NotFound /> }.into_any() }
        } />
    }
}

#[component]
fn UserList() -> impl IntoView {
    let toggle = ServerAction::<SetUserDisabled>::new();
    let users = reloaded_after(toggle.version(), list_users);
    view! {
        <h1>"Users"</h1>
        <FormError result=toggle.value() />
        <Loaded resource=users render={move |list: Vec<UserSummary>| view! {
            <ListTable empty=list.is_empty() note="No users." headings=&["User", "Role", "Created", "Status", ""]>
                {list.iter().map(|user| {
                    let role = if user.is_admin { "administrator" } else if user.is_guest { "guest" } else { "user" };
                    let (id, disabled) = (user.id, user.disabled);
                    view! {
                        <tr class="user-row">
                            <td>{user.username.clone()}</td>
                            <td>{role}</td>
                            <td>{format_time(&user.created_at)}</td>
                            <td>{if disabled { "disabled" } else { "active" }}</td>
                            <td>
                                <button on:click=move |_| { toggle.dispatch(SetUserDisabled { id, disabled: !disabled }); }>
                                    {if disabled { "Enable" } else { "Disable" }}
                                </button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </ListTable>
        }} />
    }
}
