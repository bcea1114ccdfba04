// tokengate token page. Plain JavaScript, no build step. All URLs are
// relative so the page works under any mount point.
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  // api sends a JSON request and resolves to {ok, status, data}.
  function api(method, path, body) {
    var opts = { method: method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      if (res.status === 204) { return { ok: true, status: 204, data: null }; }
      return res.json().then(function (data) {
        return { ok: res.ok, status: res.status, data: data };
      }, function () {
        return { ok: false, status: res.status, data: { error: 'Unexpected answer from the server (HTTP ' + res.status + ').' } };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: 'The server could not be reached; check your connection and try again.' } };
    });
  }

  function say(id, msg, focus) {
    var el = $(id);
    if (!el) { return; }
    el.textContent = msg;
    if (focus) { el.focus(); }
  }

  // refresh re-reads the page and swaps in the server-rendered sections
  // (list, banner, rejections, admin view). The secret is never part of them.
  function refresh() {
    return fetch(window.location.pathname + window.location.search, {
      headers: { 'Accept': 'text/html' }, credentials: 'same-origin', cache: 'no-store'
    }).then(function (res) {
      if (!res.ok) { throw new Error('HTTP ' + res.status); }
      return res.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var olds = document.querySelectorAll('[data-refresh]');
      for (var i = 0; i < olds.length; i++) {
        var fresh = doc.getElementById(olds[i].id);
        if (fresh) { olds[i].replaceWith(document.adoptNode(fresh)); }
      }
    }).catch(function () {
      say('status', 'The list could not be refreshed; reload the page.', false);
    });
  }

  // Expiry date meaning, kept in step with the date input.
  var dateInput = $('expires_on');
  var meaning = $('expiry-meaning');
  function updateMeaning() {
    if (!dateInput || !meaning) { return; }
    var v = dateInput.value;
    if (v) {
      meaning.textContent = 'Valid until 23:59:59 UTC on ' + v + ' (it stops working at midnight UTC).';
    } else if (meaning.getAttribute('data-required') === 'true') {
      meaning.textContent = 'Choose a date: the token is valid until 23:59:59 UTC on that date.';
    } else {
      meaning.textContent = 'No date: the token never expires.';
    }
  }
  if (dateInput) {
    dateInput.addEventListener('input', updateMeaning);
    dateInput.addEventListener('change', updateMeaning);
    updateMeaning();
  }

  var created = $('created');
  var secret = $('secret');
  function hideSecret() {
    if (secret) { secret.value = ''; }
    if (created) { created.hidden = true; }
    say('copy-status', '', false);
  }

  // clearVaultInputs empties the "Other tokens" password inputs: a typed
  // credential never outlives the page (form cache, back/forward cache).
  function clearVaultInputs() {
    var ins = document.querySelectorAll('form.vault-form input[name="secret"]');
    for (var i = 0; i < ins.length; i++) { ins[i].value = ''; }
  }
  // Never bring a secret back from the form cache or the back/forward cache.
  window.addEventListener('pageshow', function () { hideSecret(); clearVaultInputs(); });
  window.addEventListener('pagehide', function () { hideSecret(); clearVaultInputs(); });

  var form = $('create-form');
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      say('form-error', '', false);
      hideSecret(); // a previous secret must not pass for the new one
      var button = $('create-button');
      button.disabled = true;
      var date = dateInput.value;
      api('POST', 'api/tokens', { label: $('label').value, expires_on: date ? date : null }).then(function (r) {
        button.disabled = false;
        if (!r.ok) {
          say('form-error', (r.data && r.data.error) || ('Creating the token failed (HTTP ' + r.status + ').'), false);
          $('label').focus();
          return;
        }
        $('created-label').textContent = r.data.label;
        secret.value = r.data.token;
        created.hidden = false;
        form.reset();
        updateMeaning();
        say('copy-status', '', false);
        secret.focus();
        secret.select();
        return refresh();
      });
    });
  }

  var copy = $('copy');
  if (copy) {
    copy.addEventListener('click', function () {
      var value = secret.value;
      function done(ok) {
        say('copy-status', ok ? 'Copied to the clipboard.' : 'Copying failed: the token is selected, press Ctrl+C (or ⌘C).', false);
      }
      function fallback() {
        secret.focus();
        secret.select();
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
        done(ok);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  }
  var hide = $('hide-secret');
  if (hide) {
    hide.addEventListener('click', function () {
      hideSecret();
      $('label').focus();
    });
  }

  function replace(label) {
    hideSecret();
    $('label').value = label;
    say('form-error', '', false);
    dateInput.value = '';
    updateMeaning();
    form.scrollIntoView();
    dateInput.focus();
    say('status', 'The form is filled in with the label “' + label + '”: choose an expiry date and create the new token, then revoke the old one.', false);
  }

  function revoke(button, admin) {
    var label = button.getAttribute('data-label');
    var id = button.getAttribute('data-id');
    var owner = button.getAttribute('data-owner');
    var question = admin
      ? 'Revoke the token “' + label + '” of ' + owner + '? Anything using it stops working at once.'
      : 'Revoke the token “' + label + '”? Anything using it stops working at once.';
    if (!window.confirm(question)) { return; }
    var path = (admin ? 'api/admin/tokens/' : 'api/tokens/') + encodeURIComponent(id);
    var where = admin ? 'admin-status' : 'status';
    api('DELETE', path).then(function (r) {
      if (!r.ok) {
        say(where, (r.data && r.data.error) || ('Revoking failed (HTTP ' + r.status + ').'), true);
        return;
      }
      return refresh().then(function () {
        say(where, 'Token “' + label + '” revoked.', true);
      });
    });
  }

  // Other tokens (vault): the credential goes to the server once and is
  // never put back into the page; only its last 4 characters come back.
  function vaultSave(f) {
    var kind = f.getAttribute('data-vault-kind');
    var label = f.getAttribute('data-vault-label');
    var input = f.elements.secret;
    say('vault-' + kind + '-error', '', false);
    say('vault-' + kind + '-msg', '', false);
    if (!input.value.trim()) {
      say('vault-' + kind + '-error', 'Paste your ' + label + ' first.', false);
      input.focus();
      return;
    }
    var buttons = f.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    api('PUT', 'api/vault/' + encodeURIComponent(kind), { secret: input.value }).then(function (r) {
      for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = false; }
      if (!r.ok) {
        // The value stays (hidden) in the input so that a retry needs no re-paste.
        say('vault-' + kind + '-error', (r.data && r.data.error) || ('Saving failed (HTTP ' + r.status + ').'), false);
        input.focus();
        return;
      }
      input.value = '';
      var hint = r.data && r.data.hint ? ' (…' + r.data.hint + ')' : '';
      return refresh().then(function () {
        say('vault-' + kind + '-msg', label + ' saved' + hint + '. It will not be shown again.', true);
      });
    });
  }

  function vaultRemove(button) {
    var kind = button.getAttribute('data-kind');
    var label = button.getAttribute('data-label');
    say('vault-' + kind + '-error', '', false);
    say('vault-' + kind + '-msg', '', false);
    if (!window.confirm('Remove your stored ' + label + '? The export backend can then no longer use it on your behalf.')) { return; }
    api('DELETE', 'api/vault/' + encodeURIComponent(kind)).then(function (r) {
      if (!r.ok) {
        say('vault-' + kind + '-error', (r.data && r.data.error) || ('Removing failed (HTTP ' + r.status + ').'), false);
        return refresh();
      }
      return refresh().then(function () {
        say('vault-' + kind + '-msg', label + ' removed.', true);
      });
    });
  }

  // One delegated listener: the sections are replaced on refresh.
  document.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('button[data-action]') : null;
    if (!b) { return; }
    switch (b.getAttribute('data-action')) {
      case 'replace': replace(b.getAttribute('data-label')); break;
      case 'revoke': revoke(b, false); break;
      case 'admin-revoke': revoke(b, true); break;
      case 'vault-remove': vaultRemove(b); break;
    }
  });

  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.classList && f.classList.contains('vault-form')) {
      e.preventDefault();
      vaultSave(f);
    } else if (f.id === 'revoke-owner-form') {
      e.preventDefault();
      var owner = f.elements.owner.value.trim();
      say('revoke-owner-error', '', false);
      if (!owner) { say('revoke-owner-error', 'Enter the user id of the person.', false); return; }
      if (!window.confirm('Revoke ALL tokens of ' + owner + '? Everything using them stops working at once.')) { return; }
      api('DELETE', 'api/admin/users/' + encodeURIComponent(owner) + '/tokens').then(function (r) {
        if (!r.ok) { say('revoke-owner-error', r.data.error, false); return; }
        return refresh().then(function () {
          say('admin-status', r.data.revoked + ' token(s) of ' + owner + ' revoked.', true);
        });
      });
    } else if (f.id === 'cap-form') {
      e.preventDefault();
      var limit = f.elements.max_lifetime.value.trim();
      say('cap-error', '', false);
      if (!window.confirm('Shorten every token that lives longer than ' + limit + ' from now? This cannot be undone.')) { return; }
      api('POST', 'api/admin/cap', { max_lifetime: limit }).then(function (r) {
        if (!r.ok) { say('cap-error', r.data.error, false); return; }
        return refresh().then(function () {
          say('admin-status', r.data.changed + ' token(s) now expire at most ' + limit + ' from now.', true);
        });
      });
    }
  });
})();
