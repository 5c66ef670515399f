//! Worker identity: `host:pid:nonce`. A lease held by a process on this host that no
//! longer exists can be taken at once instead of waiting for it to expire.

/// This host's name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// A new worker id for this process.
pub fn worker_id() -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", hostname(), std::process::id(), &nonce[..8])
}

/// Whether `owner` names a process on this host that has exited.
pub fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if host != hostname() || pid == std::process::id() as i32 {
        return false;
    }
    // Signal 0 checks existence; ESRCH means no such process.
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_this_process_and_live_owners_are_not_dead() {
        let id = worker_id();
        assert!(id.contains(&format!(":{}:", std::process::id())));
        assert!(!owner_is_dead(&id));
        assert!(!owner_is_dead("other-host:1:abc"));
        assert!(!owner_is_dead("garbage"));
        // PID 1 exists on every Linux system.
        assert!(!owner_is_dead(&format!("{}:1:abc", hostname())));
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(owner_is_dead(&format!("{}:{pid}:abc", hostname())));
    }
}
