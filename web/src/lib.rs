//! The Leptos approval dashboard arrives in step 3 (issue 4).
