// The operator console (README, "The console"): a client of the public REST API and of /ws, nothing more.
import { render } from 'preact';
import { App } from './app.jsx';
import './style.css';

render(<App />, document.getElementById('app'));
