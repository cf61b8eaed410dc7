// The bootstrap server's page: configurations (list, add, edit, delete) and the
// bootstrap PSKs, with a hash router.

import { securityScreen } from "../common/security.js";
import { ConfigEditor, ConfigList } from "./configs.js";

const app = document.getElementById("app");
let view = null;

function route() {
  if (view && view.destroy) view.destroy();
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  document.getElementById("nav-configs").classList.toggle("active", !hash.startsWith("/security"));
  document.getElementById("nav-security").classList.toggle("active", hash.startsWith("/security"));
  if (hash.startsWith("/security")) {
    view = securityScreen(app, {
      title: "Add a bootstrap PSK",
      note: "The key a device uses to reach this bootstrap server over DTLS (coaps). " +
        "The DTLS listener reads the credentials at every handshake.",
    });
  } else if (hash === "/new") {
    view = new ConfigEditor(app, null);
  } else if (hash.startsWith("/edit/")) {
    view = new ConfigEditor(app, hash.slice("/edit/".length));
  } else {
    view = new ConfigList(app);
  }
}

window.addEventListener("hashchange", route);
route();
