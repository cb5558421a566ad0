// latchkey's passkey buttons (WebAuthn), served as a file: the pages' CSP allows no inline
// script. Needs @simplewebauthn/browser's bundle (window.SimpleWebAuthnBrowser), loaded before.
// Markup:
//   [data-passkey-only]  hidden until this browser can use passkeys
//   form[data-passkey="get"]     sign in: fetch options from data-options-url (the form's hidden
//                                fields), ask the authenticator, put its answer in the form's
//                                `credential` input and submit the form
//   form[data-passkey="create"]  register: same options step, then POST the answer (and the
//                                form's fields) to the form's action; a JSON answer names the
//                                page to go to next ({"location"}) or the error ({"message"});
//                                with data-submit-form, the form itself is submitted (a sign-in
//                                that goes on, as for "get")
//   [data-passkey-status]  inside a form: where a failure is said (role=status)
;(function () {
  'use strict'
  var webauthn = window.SimpleWebAuthnBrowser
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return

  function fields(form) {
    var body = new URLSearchParams()
    var data = new FormData(form)
    data.forEach(function (value, name) {
      if (name !== 'credential' && typeof value === 'string') body.append(name, value)
    })
    return body
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: body,
    }).then(function (res) {
      return res.json().then(
        function (json) { return { ok: res.ok, json: json } },
        function () { return { ok: false, json: {} } },
      )
    })
  }

  function say(form, text) {
    var status = form.querySelector('[data-passkey-status]')
    if (status) {
      status.textContent = text
      status.hidden = false
    }
  }

  function wire(form) {
    var mode = form.getAttribute('data-passkey')
    var busy = false
    form.addEventListener('submit', function (event) {
      event.preventDefault()
      if (busy) return
      busy = true
      var button = form.querySelector('button[type="submit"]')
      if (button) button.disabled = true
      var done = function () {
        busy = false
        if (button) button.disabled = false
      }
      var failed = function (message) {
        say(form, message || form.getAttribute('data-error') || '')
        done()
      }
      post(form.getAttribute('data-options-url'), fields(form))
        .then(function (answer) {
          if (!answer.ok) throw new Error(answer.json.error_description || '')
          return mode === 'create' ? webauthn.startRegistration({ optionsJSON: answer.json }) : webauthn.startAuthentication({ optionsJSON: answer.json })
        })
        .then(function (credential) {
          if (mode === 'get' || form.hasAttribute('data-submit-form')) {
            form.elements.namedItem('credential').value = JSON.stringify(credential)
            form.submit()
            return
          }
          var body = fields(form)
          body.set('credential', JSON.stringify(credential))
          return post(form.action, body).then(function (answer) {
            if (answer.ok && typeof answer.json.location === 'string') window.location.assign(answer.json.location)
            else failed(answer.json.message)
          })
        })
        .catch(function () { failed() })
    })
  }

  document.querySelectorAll('[data-passkey-only]').forEach(function (el) { el.hidden = false })
  document.querySelectorAll('form[data-passkey]').forEach(wire)
})()
