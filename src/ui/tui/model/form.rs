//! The form screens' part of the wizard state: what a key does on a question screen —
//! typing into the focused text field, moving the focus, cycling a choice, adding and
//! removing nodes.
//!
//! Pure like the rest of the model; it must not check the answers itself (the screens'
//! validation does) nor build plans (it returns a [`Command`]).

use super::*;

impl Model {
    /// Typing into the focused text field. Returns whether the key was consumed.
    pub(super) fn edit_text(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(field) = self.focused() else {
            return false;
        };
        let node = self.node_sel;
        let f = &mut self.form;
        let text: &mut String = match field {
            Field::NodeName => match f.nodes.get_mut(node) {
                Some(n) => &mut n.name,
                None => return false,
            },
            Field::NodeDns => match f.nodes.get_mut(node) {
                Some(n) => &mut n.dns,
                None => return false,
            },
            Field::NodeIp => match f.nodes.get_mut(node) {
                Some(n) => &mut n.ip,
                None => return false,
            },
            Field::CaCert => &mut f.ca_cert,
            Field::CaKey => &mut f.ca_key,
            Field::Validity => &mut f.validity,
            Field::KibanaDir => &mut f.kibana_dir,
            Field::KibanaUrl => &mut f.kibana_url,
            Field::PwFile => &mut f.pw_file,
            Field::AuthRef => &mut f.auth_ref,
            Field::HardTransportAllow => &mut f.hardening.transport_allow,
            Field::HardHttpAllow => &mut f.hardening.http_allow,
            Field::HardHttpDeny => &mut f.hardening.http_deny,
            Field::HardIdle => &mut f.hardening.idle_timeout,
            Field::HardLifespan => &mut f.hardening.lifespan,
            Field::Password(i) => match f.passwords.get_mut(i) {
                Some(p) => &mut p.reference,
                None => return false,
            },
            _ => return false,
        };
        match key.code {
            KeyCode::Backspace => {
                text.pop();
                true
            }
            KeyCode::Char('u') if ctrl => {
                text.clear();
                true
            }
            // A space in a password reference row switches the mode, like on the other rows;
            // env names and paths es-secure accepts have no spaces.
            KeyCode::Char(' ') if matches!(field, Field::Password(_)) => false,
            KeyCode::Char(c) if !ctrl => {
                text.push(c);
                true
            }
            _ => false,
        }
    }

    pub(super) fn move_focus(&mut self, delta: isize) {
        let n = self.fields(self.screen).len();
        if n == 0 {
            return;
        }
        let i = self.screen.index();
        let cur = self.focus[i].min(n - 1);
        self.focus[i] = cur.saturating_add_signed(delta).min(n - 1);
        match self.focused() {
            Some(Field::NodeRow(r)) => self.node_sel = r,
            Some(Field::TierOption(t)) => self.form.tier = t,
            _ => {}
        }
    }

    pub(super) fn form_key(&mut self, key: KeyEvent) -> Command {
        // A form screen's message answers the last key ("needs at least one node"): the next
        // key makes it stale.
        self.status = None;
        match key.code {
            KeyCode::Enter | KeyCode::Tab => return self.forward(),
            KeyCode::BackTab | KeyCode::Esc => {
                self.back();
                return Command::None;
            }
            KeyCode::Up => {
                if self.screen == Screen::Welcome {
                    return self.scroll_by(-1);
                }
                self.move_focus(-1);
            }
            KeyCode::Down => {
                if self.screen == Screen::Welcome {
                    return self.scroll_by(1);
                }
                self.move_focus(1);
            }
            KeyCode::Left => self.cycle(-1),
            KeyCode::Right | KeyCode::Char(' ') => self.cycle(1),
            KeyCode::Char('f') if self.screen == Screen::Welcome && self.pending.is_some() => {
                let flow = self.flow();
                return self.enter_review(&flow);
            }
            KeyCode::Char('a') if self.screen == Screen::Nodes => self.add_node(),
            KeyCode::Char('d') | KeyCode::Delete if self.screen == Screen::Nodes => {
                self.remove_node();
            }
            KeyCode::Char('t') if self.screen == Screen::Nodes => {
                self.form.this_node = self.node_sel;
            }
            _ => {}
        }
        if !self.errors.is_empty() {
            self.errors = self.errors_for(self.screen);
        }
        Command::None
    }

    /// Left/Right/Space on a choice field.
    pub(super) fn cycle(&mut self, delta: isize) {
        let Some(field) = self.focused() else {
            return;
        };
        let hostname = self.hostname.clone();
        let f = &mut self.form;
        let step = |len: usize, cur: usize| (cur + len).saturating_add_signed(delta) % len;
        match field {
            Field::NodeRow(r) => f.this_node = r,
            Field::CaSource => {
                let cur = CaChoice::ALL.iter().position(|c| *c == f.ca).unwrap_or(0);
                f.ca = CaChoice::ALL[step(CaChoice::ALL.len(), cur)];
            }
            Field::KeyType => {
                let cur = KEY_TYPES.iter().position(|k| *k == f.key_type).unwrap_or(0);
                f.key_type = KEY_TYPES[step(KEY_TYPES.len(), cur)];
            }
            Field::KibanaOn => f.kibana_on = !f.kibana_on,
            Field::KibanaToken => f.kibana_token = !f.kibana_token,
            Field::KibanaHttps => {
                let on = !f.browser_https();
                f.set_browser_https(on, hostname.as_deref());
            }
            Field::Password(i) => {
                if let Some(p) = f.passwords.get_mut(i) {
                    p.mode = if delta < 0 {
                        p.mode.prev()
                    } else {
                        p.mode.next()
                    };
                }
            }
            Field::PwShow => f.pw_show = !f.pw_show,
            Field::Auth => {
                let all = [
                    AuthMethodKind::TemporarySuperuser,
                    AuthMethodKind::ElasticPassword,
                    AuthMethodKind::BootstrapPassword,
                ];
                let cur = all.iter().position(|a| *a == f.auth).unwrap_or(0);
                f.auth = all[step(all.len(), cur)];
            }
            Field::HardAudit => f.hardening.audit = !f.hardening.audit,
            Field::HardIp => f.hardening.ip_filter = !f.hardening.ip_filter,
            Field::HardTls => f.hardening.cycle_tls(delta),
            Field::HardSession => f.hardening.session = !f.hardening.session,
            _ => {}
        }
    }

    pub(super) fn add_node(&mut self) {
        let n = self.form.nodes.len();
        self.form.nodes.push(NodeForm {
            name: format!("node-{}", n + 1),
            ..NodeForm::default()
        });
        self.node_sel = n;
        // Put the cursor on the new node's name, ready to type over.
        let fields = self.fields(Screen::Nodes);
        self.focus[Screen::Nodes.index()] = fields
            .iter()
            .position(|f| *f == Field::NodeName)
            .unwrap_or(0);
    }

    pub(super) fn remove_node(&mut self) {
        let f = &mut self.form;
        if f.nodes.len() <= 1 || self.node_sel >= f.nodes.len() {
            self.status = Some((false, "the cluster needs at least one node".to_string()));
            return;
        }
        f.nodes.remove(self.node_sel);
        if f.this_node > self.node_sel || f.this_node >= f.nodes.len() {
            f.this_node = f.this_node.saturating_sub(1);
        }
        self.node_sel = self.node_sel.min(f.nodes.len() - 1);
        self.focus[Screen::Nodes.index()] = self.node_sel;
    }
}
