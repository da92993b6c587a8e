// People: the tenant's users; add, change role, deactivate and reactivate.
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../api/client';
import type { Role, User } from '../../api/types';
import { Loading, Problem } from '../../components/States';
import { useToast } from '../../components/Toast';
import { useSession } from '../../session';

export default function PeopleAdmin() {
  const me = useSession();
  const toast = useToast();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: async () => (await api.get<{ users: User[] }>('/api/v1/users')).users });
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('member');
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['users'] });
  const add = useMutation({
    mutationFn: () => api.post<User>('/api/v1/users', { email: email.trim(), name: name.trim(), role }),
    onSuccess: (u) => {
      refresh();
      setEmail('');
      setName('');
      toast.show(`${u.name || u.email} can now sign in.`, 'success');
    },
    onError: (e) => toast.error(e),
  });
  const patch = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Partial<Pick<User, 'role' | 'active'>> }) => api.patch<User>(`/api/v1/users/${id}`, body),
    onSuccess: () => {
      refresh();
      toast.show('Saved.', 'success');
    },
    onError: (e) => {
      refresh();
      toast.error(e);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <section className="page">
      <h1>People</h1>
      <form className="panel" onSubmit={submit} aria-labelledby="add-person">
        <h2 id="add-person">Add a person</h2>
        <div className="row">
          <div>
            <label htmlFor="pp-email">Email</label>
            <input id="pp-email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </div>
          <div>
            <label htmlFor="pp-name">Name</label>
            <input id="pp-name" value={name} onChange={(e) => setName(e.target.value)} required />
          </div>
          <div>
            <label htmlFor="pp-role">Role</label>
            <select id="pp-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <option value="member">Member</option>
              <option value="admin">Admin</option>
            </select>
          </div>
        </div>
        <div className="actions left">
          <button type="submit" disabled={add.isPending || !email.trim()}>
            Add
          </button>
        </div>
        <p className="muted small">They sign in with Google using this address, or with a one-time link (`hub user login-link`).</p>
      </form>
      {users.isPending && <Loading what="people" />}
      {users.error && <Problem error={users.error} retry={() => void users.refetch()} />}
      {users.data && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Table, scrolls sideways">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.name}
                    {u.id === me.user.id ? ' (you)' : ''}
                  </td>
                  <td>{u.email}</td>
                  <td>
                    <label className="sr-only" htmlFor={`role-${u.id}`}>
                      Role of {u.name || u.email}
                    </label>
                    <select id={`role-${u.id}`} value={u.role} onChange={(e) => patch.mutate({ id: u.id, body: { role: e.target.value as Role } })}>
                      <option value="member">Member</option>
                      <option value="admin">Admin</option>
                    </select>
                  </td>
                  <td>
                    <button
                      type="button"
                      className={u.active ? 'secondary' : ''}
                      onClick={() => patch.mutate({ id: u.id, body: { active: !u.active } })}
                      aria-label={`${u.active ? 'Deactivate' : 'Reactivate'} ${u.name || u.email}`}
                    >
                      {u.active ? 'Deactivate' : 'Reactivate'}
                    </button>
                    {!u.active && <span className="muted small"> deactivated</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
