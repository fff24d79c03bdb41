/* Run before the page is drawn (loaded without defer, in <head>): CSS that needs the script
   (the phone's "Filters" toggle) keys on this class, and setting it later would move the page
   under the reader once it is drawn. */
document.documentElement.classList.add("js");
